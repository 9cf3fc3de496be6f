package simulators

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of external-process simulators (Command). Test with errors.Is.
var (
	// ErrTimeout reports a simulation that took longer than
	// CommandSettings.Timeout; the process was killed.
	ErrTimeout = errors.New("simulators: simulation timed out")
	// ErrCrashed reports a process that exited or could not be started;
	// the error carries its exit status and the end of its stderr.
	ErrCrashed = errors.New("simulators: external simulator crashed")
	// ErrProtocol reports a response line that does not follow the
	// protocol; the process was killed, since its state is unknown.
	ErrProtocol = errors.New("simulators: protocol violation")
	// ErrProgram reports an error message sent by the program itself in a
	// well-formed {"error": ...} response.
	ErrProgram = errors.New("simulators: external simulator reported an error")
	// ErrClosed reports a call to Run after Close.
	ErrClosed = errors.New("simulators: command closed")
)

// stderrTail is how many bytes of a process's most recent stderr output a
// Command keeps for its error messages.
const stderrTail = 4096

// maxResponseLine returns the longest response line a Command accepts for
// outputs of length xDim: 1 MiB plus 32 bytes per value (a float64 takes at
// most 24 characters in JSON). A longer line is a protocol violation, so
// that a program printing without end cannot exhaust memory.
func maxResponseLine(xDim int) int { return 1<<20 + 32*xDim }

// CommandSettings tune a Command. The zero value of every field means the
// documented default; a nil *CommandSettings means all defaults.
type CommandSettings struct {
	// Dir is the working directory of the processes, default the current
	// one.
	Dir string
	// Env holds extra environment variables, "KEY=value", added to the
	// environment of the current process.
	Env []string
	// Timeout bounds the time of one simulation, from sending the request
	// to receiving the response. Default one minute; a negative value means
	// no limit. A process that exceeds it is killed and the simulation
	// fails with ErrTimeout; the next simulation starts a fresh process.
	Timeout time.Duration
}

// Command is a Simulator backed by an external program in any language,
// which speaks the line protocol described in the package documentation.
// It starts one process per concurrent caller (so Simulate with w workers
// runs w processes) and keeps it for later simulations; a process that
// crashes, hangs past the timeout or breaks the protocol is killed, its
// simulation fails with a descriptive error, and the next simulation starts
// a new one. Call Close when done to stop the processes.
type Command struct {
	thetaDim, xDim int
	path           string
	args           []string
	s              CommandSettings

	maxLine int // longest accepted response line, maxResponseLine(xDim)

	mu     sync.Mutex
	idle   []*proc
	live   map[*proc]struct{}
	closed bool
}

var _ Simulator = (*Command)(nil)

// NewCommand returns a Command running the program name with args (name is
// looked up in PATH when it contains no slash), for parameters of length
// thetaDim and outputs of length xDim. Processes start lazily, on the first
// simulations. It returns an error wrapping ErrInput when a dimension is
// not positive or a setting is invalid, and the lookup error when the
// program cannot be found.
func NewCommand(thetaDim, xDim int, name string, args []string, s *CommandSettings) (*Command, error) {
	if thetaDim < 1 || xDim < 1 {
		return nil, fmt.Errorf("simulators: command: dimensions (%d, %d), want positive: %w", thetaDim, xDim, ErrInput)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("simulators: command: %w", err)
	}
	c := &Command{thetaDim: thetaDim, xDim: xDim, path: path, args: append([]string(nil), args...), live: map[*proc]struct{}{},
		maxLine: maxResponseLine(xDim)}
	if s != nil {
		c.s = *s
		c.s.Env = append([]string(nil), s.Env...)
	}
	if c.s.Timeout == 0 {
		c.s.Timeout = time.Minute
	}
	return c, nil
}

// Dims returns the lengths of θ and x given to NewCommand.
func (c *Command) Dims() (theta, x int) { return c.thetaDim, c.xDim }

// Run sends θ and a seed drawn from rng to a process and returns its x,
// written into dst (allocated if nil). Once the lengths of θ and dst are
// checked it draws exactly one value from rng, whatever happens next.
// A request carries θ and seed = rng.Uint64() >> 33 (a non-negative integer
// below 2³¹, so that every language can hold it in a plain integer and pass
// it to its random number generator). Run returns an error wrapping
// ErrShape for wrong lengths or a response with the wrong number of values,
// ErrInput for a θ with NaN or ±Inf (JSON cannot carry them), ErrProgram
// for an error reported by the program, ErrTimeout, ErrCrashed or
// ErrProtocol when the process failed (it is then replaced), ctx.Err() when
// ctx is done first, and ErrClosed after Close.
func (c *Command) Run(ctx context.Context, dst, theta []float64, rng *rand.Rand) ([]float64, error) {
	dst, err := prepare(dst, theta, c.thetaDim, c.xDim, "command")
	if err != nil {
		return nil, err
	}
	seed := rng.Uint64() >> 33
	for i, v := range theta {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("simulators: command: theta[%d] = %v cannot be sent as JSON: %w", i, v, ErrInput)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := c.get()
	if err != nil {
		return nil, err
	}
	p.req = appendRequest(p.req[:0], theta, seed)
	if _, err := p.stdin.Write(p.req); err != nil {
		return nil, c.fail(p, ErrCrashed, fmt.Sprintf("writing the request: %v", err))
	}
	var timeout <-chan time.Time
	if c.s.Timeout > 0 {
		tm := time.NewTimer(c.s.Timeout)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case line, ok := <-p.lines:
		if !ok {
			return nil, c.fail(p, ErrCrashed, "the process exited before answering")
		}
		if line == nil {
			return nil, c.fail(p, ErrProtocol, fmt.Sprintf("response line longer than %d bytes", c.maxLine))
		}
		x, msg, err := parseResponse(line)
		if err != nil {
			return nil, c.fail(p, ErrProtocol, fmt.Sprintf("%v in response %q", err, abbreviate(line)))
		}
		c.put(p)
		if msg != nil {
			return nil, fmt.Errorf("%w: %s", ErrProgram, *msg)
		}
		if len(x) != c.xDim {
			return nil, fmt.Errorf("simulators: command: response has %d values, want %d: %w", len(x), c.xDim, ErrShape)
		}
		copy(dst, x)
		return dst, nil
	case <-timeout:
		return nil, c.fail(p, ErrTimeout, fmt.Sprintf("no response within %v", c.s.Timeout))
	case <-ctx.Done():
		c.discard(p)
		return nil, ctx.Err()
	}
}

// Close stops all processes: it closes their standard input, which ends a
// well-behaved read loop, and kills those still running after a second.
// Simulations in flight fail. Close is idempotent.
func (c *Command) Close() error {
	c.mu.Lock()
	c.closed = true
	var ps []*proc
	for p := range c.live {
		ps = append(ps, p)
	}
	c.idle = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stdin.Close()
			select {
			case <-p.exited:
			case <-time.After(time.Second):
				p.kill()
			}
		}()
	}
	wg.Wait()
	return nil
}

// get returns an idle process or starts a new one.
func (c *Command) get() (*proc, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for n := len(c.idle); n > 0; n = len(c.idle) {
		p := c.idle[n-1]
		c.idle = c.idle[:n-1]
		select {
		case <-p.exited:
			// It died while idle: no simulation was lost, so start another.
			delete(c.live, p)
			continue
		default:
		}
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	p, err := c.start()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.kill()
		return nil, ErrClosed
	}
	c.live[p] = struct{}{}
	return p, nil
}

// put returns a healthy process to the idle list.
func (c *Command) put(p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.kill()
		delete(c.live, p)
		return
	}
	c.idle = append(c.idle, p)
}

// discard kills p and forgets it.
func (c *Command) discard(p *proc) {
	p.kill()
	c.mu.Lock()
	delete(c.live, p)
	c.mu.Unlock()
}

// fail discards p and returns an error wrapping kind with the process's exit
// status and the end of its stderr.
func (c *Command) fail(p *proc, kind error, what string) error {
	c.discard(p)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", what, c.path)
	if st := p.exitStatus(); st != "" {
		fmt.Fprintf(&b, ", %s", st)
	}
	if tail := strings.TrimSpace(p.stderr.String()); tail != "" {
		fmt.Fprintf(&b, "; stderr: %s", tail)
	}
	return fmt.Errorf("%w: %s", kind, b.String())
}

// proc is one running process of a Command.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // response lines (nil: a line over the limit); closed when stdout ends
	stderr *tailBuffer
	exited chan struct{} // closed when the process has been waited for
	req    []byte

	mu      sync.Mutex
	waitErr error
}

func (c *Command) start() (*proc, error) {
	cmd := exec.Command(c.path, c.args...)
	cmd.Dir = c.s.Dir
	if len(c.s.Env) > 0 {
		cmd.Env = append(os.Environ(), c.s.Env...)
	}
	p := &proc{cmd: cmd, lines: make(chan []byte), stderr: &tailBuffer{max: stderrTail}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.WaitDelay = time.Second // do not wait forever for a stderr held open by a grandchild
	detach(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrashed, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCrashed, err)
	}
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("%w: starting %s: %v", ErrCrashed, c.path, err)
	}
	pw.Close() // the child holds its own copy
	p.stdin = stdin
	go func() {
		defer close(p.lines)
		defer pr.Close()
		br := bufio.NewReader(pr)
		for {
			line, err := readLine(br, c.maxLine)
			if line == nil && err == nil {
				// Over the limit: report it and stop reading; Run kills
				// the process.
				select {
				case p.lines <- nil:
				case <-p.exited:
				}
				return
			}
			if len(line) > 0 && (err == nil || err == io.EOF) {
				select {
				case p.lines <- line:
				case <-p.exited:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// readLine returns the next line of br including its newline (or the rest
// of the stream before an error), allocating no more than max bytes for
// it. A line longer than max gives (nil, nil).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, nil
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			if line == nil {
				line = []byte{} // an empty read is not the over-limit marker
			}
			return line, err
		}
	}
}

func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		killProcess(p.cmd)
	}
}

// exitStatus describes how the process ended, or "" while it runs.
func (p *proc) exitStatus() string {
	select {
	case <-p.exited:
	default:
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.cmd.ProcessState; st != nil {
		return st.String()
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// appendRequest appends {"theta":[...],"seed":N} and a newline to b.
func appendRequest(b []byte, theta []float64, seed uint64) []byte {
	b = append(b, `{"theta":[`...)
	for i, v := range theta {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, `],"seed":`...)
	b = strconv.AppendUint(b, seed, 10)
	return append(b, "}\n"...)
}

// parseResponse decodes {"x": [...]} or {"error": "..."}; other fields are
// ignored. Besides JSON numbers, x may hold null, NaN, Infinity and
// -Infinity (as Python's json module writes them), which become NaN and ±Inf.
func parseResponse(line []byte) (x []float64, msg *string, err error) {
	var r struct {
		X     []jsonFloat `json:"x"`
		Error *string     `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(quoteNonFinite(line)))
	if err := dec.Decode(&r); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object with x or error: %v", err)
	}
	if dec.More() {
		return nil, nil, errors.New("more than one JSON value on the line")
	}
	switch {
	case r.Error != nil && r.X != nil:
		return nil, nil, errors.New("both x and error")
	case r.Error != nil:
		return nil, r.Error, nil
	case r.X == nil:
		return nil, nil, errors.New("neither x nor error")
	}
	x = make([]float64, len(r.X))
	for i, v := range r.X {
		x[i] = float64(v)
	}
	return x, nil, nil
}

// jsonFloat is a float64 that also decodes null (as NaN) and the strings
// "NaN", "Infinity", "-Infinity".
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is not a number", s)
	}
	*f = jsonFloat(v)
	return nil
}

// quoteNonFinite puts quotes around the bare tokens NaN, Infinity and
// -Infinity outside JSON strings, so that encoding/json accepts them.
func quoteNonFinite(line []byte) []byte {
	if !bytes.Contains(line, []byte("NaN")) && !bytes.Contains(line, []byte("Infinity")) {
		return line
	}
	out := make([]byte, 0, len(line)+8)
	inString, escaped := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		if inString {
			out = append(out, ch)
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
			continue
		}
		if ch == '"' {
			inString = true
			out = append(out, ch)
			continue
		}
		matched := false
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(line[i:], []byte(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, ch)
		}
	}
	return out
}

// abbreviate shortens a response line for an error message.
func abbreviate(line []byte) string {
	s := strings.TrimRight(string(line), "\r\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
