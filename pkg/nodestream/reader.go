package nodestream

import (
	"bytes"
	"io"
)

// valueReader reads a JSON stream (a watch's events, a list's items) a value
// at a time, holding in memory only the value in hand and what the last read
// brought beyond it.
type valueReader struct {
	r   io.Reader
	buf []byte // read, not yet consumed: buf[off:]
	off int
	err error // what the last read returned, once not nil
}

const minRead = 32 << 10

// fill reads more into buf, moving the unconsumed part to its start first
// (so slices handed out before are no longer valid). It returns false once
// nothing more can come.
func (v *valueReader) fill() bool {
	if v.err != nil {
		return false
	}
	if v.off > 0 {
		n := copy(v.buf, v.buf[v.off:])
		v.buf, v.off = v.buf[:n], 0
	}
	if cap(v.buf)-len(v.buf) < minRead/2 {
		grown := make([]byte, len(v.buf), max(2*cap(v.buf), minRead))
		copy(grown, v.buf)
		v.buf = grown
	}
	n, err := v.r.Read(v.buf[len(v.buf):cap(v.buf)])
	v.buf = v.buf[:len(v.buf)+n]
	v.err = err
	return true
}

// end is the error for a stream that ended: io.EOF between values,
// io.ErrUnexpectedEOF inside one, or what the read returned.
func (v *valueReader) end(inValue bool) error {
	if v.err == io.EOF && inValue {
		return io.ErrUnexpectedEOF
	}
	return v.err
}

// peek returns the next byte that is not space, without consuming it.
func (v *valueReader) peek() (byte, error) {
	for {
		v.off = skipSpace(v.buf, v.off)
		if v.off < len(v.buf) {
			return v.buf[v.off], nil
		}
		if !v.fill() {
			return 0, v.end(false)
		}
	}
}

// next consumes the next byte, which must be one of want.
func (v *valueReader) next(want string) (byte, error) {
	c, err := v.peek()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, err
	}
	for i := range len(want) {
		if c == want[i] {
			v.off++
			return c, nil
		}
	}
	return 0, syntaxError(v.buf, v.off, "looking for one of "+want)
}

// value returns the next JSON value, checked. The slice is valid until the
// next call.
func (v *valueReader) value() ([]byte, error) {
	for {
		start := skipSpace(v.buf, v.off)
		if start < len(v.buf) {
			end, err := skipValue(v.buf, start, 0)
			// A number at the end of what was read may go on in the
			// next read.
			if err == nil && end == len(v.buf) && v.err == nil && isNumberStart(v.buf[start]) {
				err = errShort
			}
			if err == nil {
				v.off = end
				return v.buf[start:end], nil
			}
			if err != errShort {
				return nil, err
			}
		}
		if !v.fill() {
			return nil, v.end(start < len(v.buf))
		}
	}
}

// decode hands f the unread data, which f decodes from its start (one JSON
// object), returning the offset past it. When f runs out of data (errShort)
// decode reads more and calls f again from the start: f must start afresh
// each time. What f keeps of the data is valid until the next call.
func (v *valueReader) decode(f func([]byte) (int, error)) error {
	for {
		start := skipSpace(v.buf, v.off)
		if start < len(v.buf) {
			end, err := f(v.buf[start:])
			if err == nil {
				v.off = start + end
				return nil
			}
			if err != errShort {
				return err
			}
		}
		if !v.fill() {
			return v.end(start < len(v.buf))
		}
	}
}

func isNumberStart(c byte) bool { return c == '-' || isDigit(c) }

// key returns the next object key and consumes the colon after it.
func (v *valueReader) key() (string, error) {
	raw, err := v.value()
	if err != nil {
		return "", err
	}
	if raw[0] != '"' {
		return "", syntaxError(raw, 0, "looking for beginning of object key string")
	}
	k, err := keyOf(raw, bytes.IndexByte(raw, '\\') >= 0)
	if err != nil {
		return "", err
	}
	if _, err := v.next(":"); err != nil {
		return "", err
	}
	return k, nil
}
