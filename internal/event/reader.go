package event

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Reader reads events from a stream in any of the contract's framings: NDJSON
// (one event a line), JSON arrays of events (batch mode, one or several), or
// single, possibly pretty-printed, JSON objects one after another. Gzip is
// detected from its magic bytes.
//
// Next returns each event in input order. A rejected event comes back as a
// *RejectError and reading goes on; io.EOF ends the stream; any other error
// means the rest of the input cannot be read.
type Reader struct {
	src   io.Reader
	buf   []byte
	r, w  int
	eof   bool
	rerr  error
	dec   *Decoder
	mode  framing
	array bool // inside a top-level array
	first bool // next array element is the first
	index int  // events framed so far
	line  int  // 1-based line of buf[r]
	gz    *gzip.Reader
}

type framing uint8

const (
	framingUnknown framing = iota
	framingLines           // NDJSON: every line one event, so a broken line spoils only itself
	framingValues          // JSON values (objects or arrays of objects) separated by whitespace
)

const readChunk = 256 << 10

// NewReader returns a Reader over src decoding with dec.
func NewReader(src io.Reader, dec *Decoder) (*Reader, error) {
	br := bufio.NewReaderSize(src, 4096)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip header: %w", err)
		}
		return &Reader{src: gz, gz: gz, dec: dec, line: 1, buf: make([]byte, readChunk)}, nil
	}
	return &Reader{src: br, dec: dec, line: 1, buf: make([]byte, readChunk)}, nil
}

// NewBytesReader returns a Reader over input already in memory (a request
// body, a broker message): frames are slices of b, valid as long as b is,
// and nothing is copied. Gzip input is read as NewReader reads it. An event
// over the size limit is rejected alone even where a stream would have to
// give up finding its end (a JSON array's element): its end is in b.
func NewBytesReader(b []byte, dec *Decoder) (*Reader, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return NewReader(bytes.NewReader(b), dec)
	}
	return &Reader{dec: dec, line: 1, buf: b, w: len(b), eof: true}, nil
}

// Index returns how many events have been framed (accepted or rejected).
func (rd *Reader) Index() int { return rd.index }

// fill reads more input after buf[r:w], compacting and growing the buffer up
// to the event size limit (plus slack). It reports false at the end of input.
func (rd *Reader) fill() bool {
	if rd.eof {
		return false
	}
	if rd.r > 0 {
		n := copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.w = 0, n
	}
	if rd.w == len(rd.buf) {
		if len(rd.buf) >= rd.dec.lim.MaxEventBytes+readChunk {
			return false
		}
		nb := make([]byte, min(2*len(rd.buf), rd.dec.lim.MaxEventBytes+readChunk))
		copy(nb, rd.buf[:rd.w])
		rd.buf = nb
	}
	for {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		if err != nil {
			rd.eof = true
			if err != io.EOF {
				rd.rerr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// skipSpace advances over whitespace, counting lines. It reports false at
// the end of input.
func (rd *Reader) skipSpace() bool {
	for {
		for rd.r < rd.w {
			switch rd.buf[rd.r] {
			case '\n':
				rd.line++
			case ' ', '\t', '\r':
			default:
				return true
			}
			rd.r++
		}
		if !rd.fill() {
			return false
		}
	}
}

// Next returns the next event; see Reader.
func (rd *Reader) Next() (*Event, error) {
	f, err := rd.NextFrame()
	if err != nil {
		return nil, err
	}
	return f.Decode(rd.dec)
}

// Frame is one event's bytes as framed from the stream, not yet decoded.
type Frame struct {
	Raw   []byte // nil when the event exceeded the size limit
	Index int    // 0-based position in the stream
	Line  int    // 1-based line where it starts
}

// NextFrame returns the next event's bytes without decoding them, so
// decoding can run on other goroutines. Raw is valid until the next call
// (for NewBytesReader's, as long as its input).
// Errors are as for Next, except that rejections come from Frame.Decode.
func (rd *Reader) NextFrame() (Frame, error) {
	if rd.mode == framingUnknown {
		if err := rd.sniff(); err != nil {
			return Frame{}, err
		}
	}
	var raw []byte
	var line int
	var err error
	if rd.mode == framingLines {
		raw, line, err = rd.nextLine()
	} else {
		raw, line, err = rd.nextValue()
	}
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Raw: raw, Index: rd.index, Line: line}
	rd.index++
	return f, nil
}

// Decode decodes the frame with dec; a rejection comes back as a
// *RejectError naming the frame.
func (f Frame) Decode(dec *Decoder) (*Event, error) {
	if f.Raw == nil {
		return nil, &RejectError{Index: f.Index, Line: f.Line, FieldError: &FieldError{Code: CodeTooLarge,
			Reason: fmt.Sprintf("event is larger than the %d byte limit", dec.lim.MaxEventBytes)}}
	}
	ev, id, err := dec.DecodeID(f.Raw)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			fe = &FieldError{Code: CodeSyntax, Reason: err.Error()}
		}
		return nil, &RejectError{Index: f.Index, Line: f.Line, ID: id, FieldError: fe}
	}
	return ev, nil
}

// sniff picks the framing: a first object that ends on its own line means
// NDJSON; anything else is read as JSON values.
func (rd *Reader) sniff() error {
	if !rd.skipSpace() {
		if rd.rerr != nil {
			return rd.readErr()
		}
		return io.EOF
	}
	if rd.w-rd.r >= 3 && bytes.Equal(rd.buf[rd.r:rd.r+3], []byte("\xef\xbb\xbf")) {
		rd.r += 3
		if !rd.skipSpace() {
			return io.EOF
		}
	}
	rd.mode = framingLines
	if rd.buf[rd.r] == '[' {
		rd.mode = framingValues
		return nil
	}
	if rd.buf[rd.r] != '{' {
		return nil
	}
	for {
		seg := rd.buf[rd.r:rd.w]
		end, done := valueEnd(seg)
		nl := bytes.IndexByte(seg, '\n')
		if done {
			if nl >= 0 && nl < end {
				rd.mode = framingValues
			}
			return nil
		}
		if nl >= 0 {
			// The first object spans lines: pretty-printed JSON, unless the
			// next line starts another event (a broken first NDJSON line).
			rest := bytes.TrimLeft(seg[nl+1:], " \t\r\n")
			if len(rest) == 0 && rd.fill() {
				continue
			}
			if len(rest) == 0 || rest[0] != '{' {
				rd.mode = framingValues
			}
			return nil
		}
		if !rd.fill() {
			return nil
		}
	}
}

func (rd *Reader) readErr() error {
	return fmt.Errorf("reading input after event %d (line %d): %w", rd.index, rd.line, rd.rerr)
}

// nextLine frames one NDJSON line; nil raw means the line was too long.
func (rd *Reader) nextLine() ([]byte, int, error) {
	if !rd.skipSpace() {
		if rd.rerr != nil {
			return nil, 0, rd.readErr()
		}
		return nil, 0, io.EOF
	}
	line := rd.line
	for {
		if nl := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n'); nl >= 0 {
			raw := rd.buf[rd.r : rd.r+nl]
			rd.r += nl + 1
			rd.line++
			return raw, line, nil
		}
		if !rd.fill() {
			if rd.w-rd.r > rd.dec.lim.MaxEventBytes {
				return rd.discardLine(line)
			}
			if rd.rerr != nil {
				return nil, 0, rd.readErr()
			}
			raw := rd.buf[rd.r:rd.w]
			rd.r = rd.w
			return raw, line, nil
		}
	}
}

// discardLine drops the rest of an over-long line.
func (rd *Reader) discardLine(line int) ([]byte, int, error) {
	for {
		if nl := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n'); nl >= 0 {
			rd.r += nl + 1
			rd.line++
			return nil, line, nil
		}
		rd.r = rd.w
		if !rd.fill() {
			if rd.rerr != nil {
				return nil, 0, rd.readErr()
			}
			return nil, line, nil
		}
	}
}

// nextValue frames the next event in a stream of JSON values, stepping into
// top-level arrays.
func (rd *Reader) nextValue() ([]byte, int, error) {
	for {
		if !rd.skipSpace() {
			if rd.rerr != nil {
				return nil, 0, rd.readErr()
			}
			if rd.array {
				return nil, 0, fmt.Errorf("input ends inside a JSON array after event %d (line %d): the closing ']' is missing", rd.index, rd.line)
			}
			return nil, 0, io.EOF
		}
		c := rd.buf[rd.r]
		if !rd.array && c == '[' {
			rd.r++
			rd.array, rd.first = true, true
			continue
		}
		if rd.array {
			if c == ']' {
				rd.r++
				rd.array = false
				continue
			}
			if !rd.first {
				if c != ',' {
					return nil, 0, fmt.Errorf("line %d: expected ',' or ']' between the events of a JSON array, found %q: the rest of the input cannot be read", rd.line, c)
				}
				rd.r++
				if !rd.skipSpace() {
					continue
				}
			}
			rd.first = false
		}
		line := rd.line
		for {
			end, done := valueEnd(rd.buf[rd.r:rd.w])
			if done {
				raw := rd.buf[rd.r : rd.r+end]
				rd.line += bytes.Count(raw, []byte{'\n'})
				rd.r += end
				return raw, line, nil
			}
			if rd.w-rd.r > rd.dec.lim.MaxEventBytes {
				return nil, 0, fmt.Errorf("line %d: event %d is larger than the %d byte limit, so where it ends cannot be found: the rest of the input cannot be read", line, rd.index, rd.dec.lim.MaxEventBytes)
			}
			if !rd.fill() {
				if rd.rerr != nil {
					return nil, 0, rd.readErr()
				}
				// A truncated last value: let the decoder name what is wrong.
				raw := rd.buf[rd.r:rd.w]
				rd.r = rd.w
				return raw, line, nil
			}
		}
	}
}

// valueEnd finds where the JSON value at the start of b ends, by counting
// brackets outside strings; the decoder checks the syntax afterwards.
func valueEnd(b []byte) (int, bool) {
	depth := 0
	inStr, esc := false, false
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if depth == 0 {
					return i + 1, true
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return i + 1, true
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 && i > 0 {
				return i, true
			}
		}
	}
	return 0, false
}

// Close releases the gzip reader, if any.
func (rd *Reader) Close() error {
	if rd.gz != nil {
		return rd.gz.Close()
	}
	return nil
}
