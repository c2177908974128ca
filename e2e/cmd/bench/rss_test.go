package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseRSSReadsTheSplitOfVmRSS(t *testing.T) {
	status := `Name:	router
VmPeak:	 2453012 kB
VmHWM:	  317440 kB
VmRSS:	  301056 kB
RssAnon:	  262144 kB
RssFile:	   38912 kB
RssShmem:	       0 kB
Threads:	12
`
	tests := []struct {
		name    string
		status  string
		want    rssSample
		wantErr string
	}{
		{name: "a process's status", status: status, want: rssSample{rss: 301056, anon: 262144, file: 38912}},
		{name: "a kernel without the split", status: strings.ReplaceAll(status, "RssFile", "Rss_File"), wantErr: "3 of the fields"},
		{name: "a field that is no number", status: strings.Replace(status, "38912 kB", "lots kB", 1), wantErr: "RssFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRSS(tt.status)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRSS = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRSS = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadRSSOfThisProcessAddsUp(t *testing.T) {
	s, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The kernel reports VmRSS as the sum of the three; each is rounded to
	// a KiB figure of pages, so they agree exactly.
	if s.rss == 0 || s.anon+s.file+s.shmem != s.rss {
		t.Fatalf("readRSS(self) = %+v: RssAnon + RssFile + RssShmem is not VmRSS", s)
	}
	two, err := readRSS(os.Getpid(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if two.rss < s.rss*3/2 {
		t.Fatalf("readRSS(self, self) = %+v, want about twice %+v", two, s)
	}
}
