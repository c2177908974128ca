package lab

import (
	"net/netip"
	"testing"
)

func TestParsePortMappingReadsHostContainerAndProtocol(t *testing.T) {
	tests := []struct {
		in      string
		want    PortMapping
		wantErr bool
	}{
		{in: "8080:80/tcp", want: PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{in: "53:5353/UDP", want: PortMapping{HostPort: 53, ContainerPort: 5353, Protocol: "udp"}},
		{in: "8080:80", want: PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{in: "8080/tcp", wantErr: true},
		{in: "0:80/tcp", wantErr: true},
		{in: "8080:65536/tcp", wantErr: true},
		{in: "8080:http/tcp", wantErr: true},
		{in: "8080:80/icmp", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortMapping(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePortMapping(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParsePortMapping(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPortMappingStringParsesBackToItself(t *testing.T) {
	pm := PortMapping{HostPort: 30080, ContainerPort: 8080, Protocol: "sctp"}
	got, err := ParsePortMapping(pm.String())
	if err != nil || got != pm {
		t.Errorf("ParsePortMapping(%q) = %+v, %v; want %+v", pm.String(), got, err, pm)
	}
}

func TestPodIPFromResultTakesTheFirstIPv4Address(t *testing.T) {
	tests := []struct {
		name    string
		result  string
		want    string
		wantErr bool
	}{
		{
			name:   "CNI 1.0 result of bridge + host-local",
			result: `{"cniVersion":"1.0.0","interfaces":[{"name":"nodebgp0"},{"name":"veth1"},{"name":"eth0","sandbox":"/var/run/netns/lab-pod1"}],"ips":[{"interface":2,"address":"10.244.1.2/24","gateway":"10.244.1.1"}],"dns":{}}`,
			want:   "10.244.1.2",
		},
		{
			name:   "IPv6 first",
			result: `{"ips":[{"address":"fd00::2/64"},{"address":"10.244.3.7/24"}]}`,
			want:   "10.244.3.7",
		},
		{name: "no addresses", result: `{"ips":[]}`, wantErr: true},
		{name: "bad address", result: `{"ips":[{"address":"10.244.1.2"}]}`, wantErr: true},
		{name: "not JSON", result: `plugin failed`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := podIPFromResult([]byte(tt.result))
			if (err != nil) != tt.wantErr {
				t.Fatalf("podIPFromResult error = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != netip.MustParseAddr(tt.want) {
				t.Errorf("podIPFromResult = %s, want %s", got, tt.want)
			}
		})
	}
}
