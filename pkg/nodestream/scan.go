package nodestream

import (
	"encoding/binary"
	"errors"
	"fmt"

	"sigs.k8s.io/json"
)

// A Node's JSON is mostly what the agent does not read (images, conditions,
// managed fields). encoding/json's scanner, a state machine called for every
// byte, crosses a 14.5 KiB Node at ~70 MB/s here, several times per decode:
// slower than client-go's whole protobuf decode. So this file walks the JSON
// itself: it checks and skips a value in one byte loop, and hands only the
// kept fields' values (a name, the annotations, a few addresses) to
// sigs.k8s.io/json, the decoder client-go uses, so that they decode exactly
// as client-go decodes them.

// errShort: the input ended inside a value. The stream reader reads more on
// it; to a caller it is an unexpected end.
var errShort = errors.New("unexpected end of JSON input")

// maxDepth bounds nesting, as encoding/json does (10000).
const maxDepth = 10000

func syntaxError(b []byte, i int, what string) error {
	if i >= len(b) {
		return errShort
	}
	return fmt.Errorf("invalid character %q at offset %d %s", b[i], i, what)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue checks the JSON value starting at b[i] (after any space) and
// returns the offset just past it.
func skipValue(b []byte, i int, depth int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, errShort
	}
	switch c := b[i]; {
	case c == '{':
		return eachMember(b, i, depth, nil)
	case c == '[':
		return eachElement(b, i, depth, nil)
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	default:
		return i, syntaxError(b, i, "looking for the beginning of a value")
	}
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	for j := range len(lit) {
		if i+j >= len(b) {
			return i + j, errShort
		}
		if b[i+j] != lit[j] {
			return i + j, syntaxError(b, i+j, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// skipString returns the offset past the string at b[i] (its opening
// quote), and whether it holds an escape.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i < len(b) {
		// Most of a Node's string bytes (image names, digests, condition
		// messages) need no look: eight at a time, a word without a quote,
		// a backslash or a control byte is skipped whole.
		for i+8 <= len(b) && !hasStringSpecial(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i + 1, escaped, errShort
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(b) {
						return j, escaped, errShort
					}
					if !isHex(b[j]) {
						return j, escaped, syntaxError(b, j, "in \\u escape")
					}
				}
				i += 6
			default:
				return i + 1, escaped, syntaxError(b, i+1, "in string escape code")
			}
		case c < 0x20:
			return i, escaped, syntaxError(b, i, "in string literal")
		default:
			i++
		}
	}
	return i, escaped, errShort
}

// Bytes repeated in every byte of a word.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasStringSpecial reports whether a byte of w ends a plain run inside a
// string: '"', '\\' or a control byte (below 0x20). Each test is the exact
// "has a byte below n" word test (v-n*ones)&^v&highs, on w itself for the
// control bytes and on w XOR the repeated byte for the other two (a zero
// byte where they are).
func hasStringSpecial(w uint64) bool {
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	control := w
	return ((quote-ones)&^quote|(backslash-ones)&^backslash|(control-ones*0x20)&^control)&highs != 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, errShort
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, syntaxError(b, i, "in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) {
			return i, errShort
		}
		if !isDigit(b[i]) {
			return i, syntaxError(b, i, "after decimal point in numeric literal")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return i, errShort
		}
		if !isDigit(b[i]) {
			return i, syntaxError(b, i, "in exponent of numeric literal")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

// member decodes, or skips, the value of an object's key, which starts at
// b[i] (after any space); it returns the offset past the value. depth is the
// value's nesting, for skipValue.
type member func(key string, b []byte, i, depth int) (int, error)

// eachMember walks the object at b[i] ('{'), handing each member's value
// to f (or, if f is nil, skipping it), and returns the offset past the
// object. An escaped key is unescaped first (a rare, slower path): keys match
// as encoding/json would match them.
func eachMember(b []byte, i int, depth int, f member) (int, error) {
	if depth >= maxDepth {
		return i, fmt.Errorf("exceeded max depth %d", maxDepth)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, errShort
		}
		if b[i] != '"' {
			return i, syntaxError(b, i, "looking for beginning of object key string")
		}
		keyEnd, escaped, err := skipString(b, i)
		if err != nil {
			return keyEnd, err
		}
		var key string
		if f != nil {
			if key, err = keyOf(b[i:keyEnd], escaped); err != nil {
				return i, err
			}
		}
		i = skipSpace(b, keyEnd)
		if i >= len(b) {
			return i, errShort
		}
		if b[i] != ':' {
			return i, syntaxError(b, i, "after object key")
		}
		var end int
		if f == nil {
			end, err = skipValue(b, i+1, depth+1)
		} else {
			end, err = f(key, b, skipSpace(b, i+1), depth+1)
		}
		if err != nil {
			return end, err
		}
		next, done, err := nextMember(b, end, '}', "after object key:value pair")
		if err != nil || done {
			return next, err
		}
		i = next
	}
}

// nextMember reads what follows an object member or array element that
// ends at b[end]: a comma (another follows: it returns where) or closer
// (done: it returns the offset past it).
func nextMember(b []byte, end int, closer byte, what string) (next int, done bool, err error) {
	i := skipSpace(b, end)
	if i >= len(b) {
		return i, false, errShort
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), false, nil
	case closer:
		return i + 1, true, nil
	}
	return i, false, syntaxError(b, i, what)
}

// decodeValue decodes the value at b[i] into v (a kept field, named name)
// as client-go would decode it, and returns the offset past it.
func decodeValue(b []byte, i, depth int, name string, v any) (int, error) {
	end, err := skipValue(b, i, depth)
	if err != nil {
		return end, err
	}
	return end, field(b[i:end], name, v)
}

func keyOf(quoted []byte, escaped bool) (string, error) {
	if !escaped {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var k string
	err := json.UnmarshalCaseSensitivePreserveInts(quoted, &k)
	return k, err
}

// eachElement walks the array at b[i] ('['), calling f (if not nil) with
// each element's index and JSON.
func eachElement(b []byte, i int, depth int, f func(int, []byte) error) (int, error) {
	if depth >= maxDepth {
		return i, fmt.Errorf("exceeded max depth %d", maxDepth)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		start := i
		end, err := skipValue(b, start, depth+1)
		if err != nil {
			return end, err
		}
		if f != nil {
			if err := f(n, b[start:end]); err != nil {
				return end, err
			}
		}
		next, done, err := nextMember(b, end, ']', "after array element")
		if err != nil || done {
			return next, err
		}
		i = next
	}
}

// objectAt walks the object at b[i] (after any space), handing each member
// to f, and returns the offset past it. If nullable, null is an object
// without members (as encoding/json decodes null into a struct: not at all).
func objectAt(b []byte, i, depth int, what string, nullable bool, f member) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, errShort
	}
	switch {
	case nullable && b[i] == 'n':
		return skipLiteral(b, i, "null")
	case b[i] != '{':
		return i, fmt.Errorf("%s: want an object, got %q", what, truncate(b[i:]))
	}
	return eachMember(b, i, depth, f)
}

func onlySpace(b []byte, i int) error {
	if i = skipSpace(b, i); i < len(b) {
		return syntaxError(b, i, "after top-level value")
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "..."
	}
	return string(b)
}
