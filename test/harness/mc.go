package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MCVersion pins MinIO's client, mc. mc's releases are tagged
// RELEASE.<date>, which are not module versions, so the pin is a
// pseudo-version: the one the pinned server
// (github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c, .tools/bin/minio)
// requires in its own go.mod, so that client and server speak the same
// admin API.
const MCVersion = "v0.0.0-20250313080218-cf909e1063a9"

// mcAlias is the name under which MC knows its MinIO.
const mcAlias = "harness"

// MC runs MinIO's client, mc, against one MinIO as its root user, for tests
// that administer MinIO the way an operator would (users, policies). mc is
// AGPL: it runs as a separate program and is never linked into anything.
type MC struct {
	bin       string
	configDir string
	env       []string
	secrets   []string // replaced in every error Run returns
}

// NewMC returns an mc for m, installing the pinned mc into .tools/bin on
// first use (see GoTool; $PHOTOGATE_MC overrides the binary). Its
// configuration lives in a fresh temporary MC_CONFIG_DIR, and m's root
// credential reaches mc only through its environment (MC_HOST_<alias>),
// never a command line or a file.
func NewMC(t testing.TB, m *MinIO) *MC {
	t.Helper()
	bin := GoTool(t, "mc", "github.com/minio/mc", MCVersion, "PHOTOGATE_MC")
	configDir := t.TempDir()
	if ca := m.CAFile(); ca != "" {
		// mc trusts the PEM files in <config dir>/certs/CAs besides the
		// system roots.
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatalf("mc: read MinIO's CA: %v", err)
		}
		caDir := filepath.Join(configDir, "certs", "CAs")
		if err := os.MkdirAll(caDir, 0o700); err != nil {
			t.Fatalf("mc: %v", err)
		}
		if err := os.WriteFile(filepath.Join(caDir, "minio-ca.crt"), pem, 0o600); err != nil {
			t.Fatalf("mc: %v", err)
		}
	}
	host := url.URL{Scheme: m.scheme, Host: m.addr, User: url.UserPassword(m.user, m.password)}
	// ClientEnv drops every AWS_*, MC_* and CA-bundle variable of the test's
	// environment, so nothing of the machine's redirects mc.
	env := ClientEnv(t.TempDir(),
		"MC_CONFIG_DIR="+configDir,
		"MC_HOST_"+mcAlias+"="+host.String(),
		"NO_COLOR=1",
	)
	return &MC{bin: bin, configDir: configDir, env: env, secrets: []string{m.password}}
}

// Alias is the alias that names the MinIO in mc's arguments ("mc admin
// info <Alias>").
func (c *MC) Alias() string { return mcAlias }

// ConfigDir is mc's private MC_CONFIG_DIR, a place for files the commands
// read (a policy document, say).
func (c *MC) ConfigDir() string { return c.configDir }

// Redact makes Run replace secret by "[REDACTED]" in the command and output
// it puts into errors, for secrets the caller passes as arguments.
func (c *MC) Redact(secret string) {
	if secret != "" {
		c.secrets = append(c.secrets, secret)
	}
}

// Run runs mc with args and returns its standard output. On failure the
// error carries the command and everything mc printed, with the root
// password and every Redact'ed secret replaced.
func (c *MC) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--no-color"}, args...)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s%s", c.redact("mc "+strings.Join(args, " ")), err,
			c.redact(stdout.String()), c.redact(stderr.String()))
	}
	return stdout.String(), nil
}

func (c *MC) redact(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	return s
}
