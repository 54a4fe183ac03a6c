package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresStartTimeout bounds how long a fresh cluster may take to accept
// connections. initdb plus a first start take about two seconds here.
const postgresStartTimeout = 60 * time.Second

// Postgres is a private PostgreSQL cluster run as a child process for one
// test: its own data directory, a free loopback port and a unix socket in
// the same temporary directory, trust authentication on loopback only.
type Postgres struct {
	dir  string
	port int
	db   string
	out  *logBuffer
	proc *process
}

// DSN is a postgres:// URL for the test database.
func (p *Postgres) DSN() string { return p.dsnFor(p.db) }

func (p *Postgres) dsnFor(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates another empty database in the cluster and returns
// its DSN, for tests that need several independent indexes.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	if err := p.createDatabase(name); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return p.dsnFor(name)
}

func (p *Postgres) createDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsnFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Output is what the server logged.
func (p *Postgres) Output() string { return string(p.out.Bytes()) }

// FindPostgres returns the directory holding initdb and postgres: Debian
// installs them under /usr/lib/postgresql/<major>/bin, off PATH. The newest
// major version wins; $PHOTOGATE_POSTGRES_BIN overrides.
func FindPostgres() (string, error) {
	if dir := os.Getenv("PHOTOGATE_POSTGRES_BIN"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("PHOTOGATE_POSTGRES_BIN: %w", err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		return majorOf(b) - majorOf(a)
	})
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server: install Debian's postgresql package (initdb under /usr/lib/postgresql/*/bin) or set PHOTOGATE_POSTGRES_BIN")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres starts a private cluster with a database named "photogate"
// and stops it, removing its files, when the test ends. Without PostgreSQL
// the test is skipped, except under CI=true where it fails: CI must not
// silently shrink to the bbolt half of the suite.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := FindPostgres()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	p, err := launchPostgres(bin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("postgres: %v", err)
		}
	})
	return p
}

// runAs is who runs the server: PostgreSQL refuses to run as root, which is
// what CI runs as, so root hands the cluster to the postgres user.
type runAs struct {
	cred     *syscall.Credential
	uid, gid int
}

func postgresUser() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("running as root needs the postgres user (created by Debian's postgresql package): %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return runAs{}, fmt.Errorf("postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return runAs{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

func (r runAs) attr() *syscall.SysProcAttr {
	a := procAttr()
	if a == nil {
		a = &syscall.SysProcAttr{}
	}
	a.Credential = r.cred
	return a
}

func launchPostgres(bin string) (p *Postgres, err error) {
	who, err := postgresUser()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and the server runs
	// as another user.
	dir, err := os.MkdirTemp("", "photogate-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if who.cred != nil {
		if err := os.Chown(dir, who.uid, who.gid); err != nil {
			return nil, fmt.Errorf("hand %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = who.attr()
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A port can be taken between FreePort and the server binding it;
	// another port is tried then.
	for attempt := 0; ; attempt++ {
		p, err = startPostgresServer(bin, dir, data, who)
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.createDatabase(p.db); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

func startPostgresServer(bin, dir, data string, who runAs) (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, port: port, db: "photogate", out: &logBuffer{}}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200",
		// Tests measure photogate, not the disk: durability is kept
		// (fsync stays on) so that commit costs are realistic.
		"-c", "shared_buffers=128MB",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = who.attr()
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p.proc = &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.proc.err = cmd.Wait()
		close(p.proc.done)
	}()
	if err := p.waitReady(); err != nil {
		p.kill()
		return nil, fmt.Errorf("%w\n%s", err, p.out.tail(4000))
	}
	return p, nil
}

// waitReady polls until the server accepts a connection to its maintenance
// database, or dies, or postgresStartTimeout passes.
func (p *Postgres) waitReady() error {
	deadline := time.Now().Add(postgresStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, p.dsnFor("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		if p.proc.exited() {
			return fmt.Errorf("postgres on port %d: %w: %v", p.port, errExited, p.proc.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres on port %d not ready after %v: %w", p.port, postgresStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Postgres) kill() {
	_ = p.proc.cmd.Process.Kill()
	<-p.proc.done
}

// stop shuts the server down without a checkpoint (SIGQUIT, immediate
// shutdown): the cluster is deleted next, so writing its buffers out first
// would only cost time. It then removes the cluster's files.
func (p *Postgres) stop() error {
	defer os.RemoveAll(p.dir)
	_ = p.proc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.proc.done:
		return nil
	case <-time.After(stopGrace):
		p.kill()
		return fmt.Errorf("postgres on port %d ignored SIGQUIT for %v and was killed", p.port, stopGrace)
	}
}
