package tests

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2 is a raw HTTP/2 client connection: the test controls every frame.
type h2 struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	// settings is what the server announced in its first SETTINGS frame.
	settings map[http2.SettingID]uint32
}

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialH2 connects to addr and finishes the HTTP/2 handshake: preface and
// SETTINGS both ways.
func dialH2(t *testing.T, addr string) *h2 {
	t.Helper()
	conn := dialRaw(t, addr)
	c := &h2{t: t, conn: conn, fr: http2.NewFramer(conn, conn), settings: map[http2.SettingID]uint32{}}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("%s: reading the server's SETTINGS: %v", addr, err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
			if err := c.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	conn.SetDeadline(time.Time{})
	return c
}

// openStream sends the HEADERS of a gRPC call to method on stream id,
// without a body, so the call stays open.
func (c *h2) openStream(id uint32, method string) {
	c.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, hf := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method},
		{":authority", c.conn.RemoteAddr().String()}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: hf[0], Value: hf[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// until reads frames until one satisfies match, the connection ends (then
// it returns that error), or d passes (a test failure).
func (c *h2) until(d time.Duration, what string, match func(http2.Frame) bool) error {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := c.fr.ReadFrame()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("no %s within %s", what, d)
		}
		if err != nil {
			return err
		}
		if match(f) {
			return nil
		}
	}
}

// closedWithin fails the test unless the server closes conn within d; it
// returns how long that took.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: still open after %s", what, d)
		}
		if err != nil {
			return time.Since(start)
		}
	}
}

// Connections that never finish their handshake, that sit idle, or that
// open more calls than the bound are cut off on both ports; hostile frames
// and random bytes get an error, and the node keeps serving.
func TestConnectionLimits(t *testing.T) {
	const handshake, idle, streams = time.Second, 2 * time.Second, 4
	httpAddr := freePort(t)
	c := startCluster(t, 1, "--n", "1", "--handshake-timeout", handshake.String(), "--idle-timeout", idle.String(), "--max-streams", "4", "--http", httpAddr)
	nd := c.nodes[0]
	t.Run("HTTP port", func(t *testing.T) {
		t.Parallel()
		t.Run("a silent connection is closed", func(t *testing.T) {
			conn := dialRaw(t, httpAddr)
			closedWithin(t, conn, 15*time.Second, "silent HTTP")
		})
		t.Run("an idle keep-alive connection is closed", func(t *testing.T) {
			conn := dialRaw(t, httpAddr)
			io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			if n, err := conn.Read(buf); err != nil || !bytes.Contains(buf[:n], []byte("200 OK")) {
				t.Fatalf("GET /healthz: %q, %v", buf[:n], err)
			}
			closedWithin(t, conn, idle+5*time.Second, "idle HTTP")
		})
	})
	ports := map[string]string{"client API": nd.clientAddr, "cluster port": nd.clusterAddr}
	method := map[string]string{"client API": "/harmonia.v1.KV/Get", "cluster port": "/remote.Remoting/Receive"}

	for name, addr := range ports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("a silent connection is closed after the handshake timeout", func(t *testing.T) {
				conn := dialRaw(t, addr)
				if took := closedWithin(t, conn, handshake+5*time.Second, "silent"); took < handshake/2 {
					t.Errorf("closed after %s, before the handshake timeout", took)
				}
			})
			t.Run("a handshake cut short is closed", func(t *testing.T) {
				conn := dialRaw(t, addr)
				io.WriteString(conn, http2.ClientPreface[:10])
				closedWithin(t, conn, handshake+5*time.Second, "half a preface")
			})
			t.Run("an idle connection gets a GOAWAY and is closed", func(t *testing.T) {
				h := dialH2(t, addr)
				start := time.Now()
				if err := h.until(idle+5*time.Second, "GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }); err != nil {
					t.Fatalf("closed without a GOAWAY: %v", err)
				}
				if took := time.Since(start); took < idle/2 {
					t.Errorf("GOAWAY after %s, before the idle timeout", took)
				}
				// A client that answers the server's ping is let go at once.
				err := h.until(5*time.Second, "close after GOAWAY", func(f http2.Frame) bool {
					if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
						h.fr.WritePing(true, p.Data)
					}
					return false
				})
				if err == nil {
					t.Fatal("unreachable")
				}
			})
			t.Run("streams past the bound are refused", func(t *testing.T) {
				h := dialH2(t, addr)
				if got := h.settings[http2.SettingMaxConcurrentStreams]; got != streams {
					t.Fatalf("the server announces %d streams per connection, want %d", got, streams)
				}
				for i := range streams + 1 {
					h.openStream(uint32(2*i+1), method[name])
				}
				last := uint32(2*streams + 1)
				err := h.until(5*time.Second, "REFUSED_STREAM", func(f http2.Frame) bool {
					rst, ok := f.(*http2.RSTStreamFrame)
					if ok && rst.StreamID != last {
						t.Fatalf("stream %d, within the bound, reset: %v", rst.StreamID, rst.ErrCode)
					}
					return ok && rst.ErrCode == http2.ErrCodeRefusedStream
				})
				if err != nil {
					t.Fatalf("connection ended instead: %v", err)
				}
			})
			t.Run("a frame longer than allowed ends the connection, not the node", func(t *testing.T) {
				h := dialH2(t, addr)
				// A HEADERS frame header claiming 16 MiB, then nothing more.
				h.conn.Write([]byte{0xff, 0xff, 0xff, byte(http2.FrameHeaders), 0x4, 0, 0, 0, 1})
				closedWithin(t, h.conn, 5*time.Second, "oversized frame")
			})
			t.Run("a truncated frame is not waited on forever", func(t *testing.T) {
				h := dialH2(t, addr)
				// Claims 100 bytes, sends 10, then closes its side.
				h.conn.Write(append([]byte{0, 0, 100, byte(http2.FrameHeaders), 0x4, 0, 0, 0, 1}, make([]byte, 10)...))
				h.conn.(*net.TCPConn).CloseWrite()
				closedWithin(t, h.conn, 5*time.Second, "truncated frame")
			})
			t.Run("random bytes, raw and after a valid handshake", func(t *testing.T) {
				seed := uint64(time.Now().UnixNano())
				t.Logf("seed %d", seed)
				rng := rand.New(rand.NewPCG(seed, 0))
				for i := range 40 {
					junk := make([]byte, 1+rng.IntN(2048))
					for j := range junk {
						junk[j] = byte(rng.Uint32())
					}
					var conn net.Conn
					if i%2 == 0 {
						conn = dialRaw(t, addr)
					} else {
						conn = dialH2(t, addr).conn
					}
					conn.SetDeadline(time.Now().Add(2 * time.Second))
					conn.Write(junk)
					conn.Read(make([]byte, 512))
					conn.Close()
				}
			})
			alive(t, nd, name)
		})
	}
}
