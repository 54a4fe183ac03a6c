package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/photogate/photogate/s3/classify"
)

const leak = "sup3r-s3cret-value"

func TestSecretRedaction(t *testing.T) {
	cfg := Config{Users: []UserConfig{{Name: "ana", AccessKey: "AKIAANA1", SecretKey: leak, Grants: FullAccess()}}}
	e, err := Compile(cfg, noEnv, noFiles)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(e, Options{})
	u := e.users["AKIAANA1"]

	values := map[string]any{
		"Secret": Secret(leak), "*Secret": new(Secret(leak)), "UserConfig": cfg.Users[0], "*UserConfig": &cfg.Users[0],
		"Config": cfg, "Engine": e, "Engine value": *e, "user": u, "user value": *u, "Holder": h,
		"slice": []UserConfig{cfg.Users[0]}, "map": map[string]Secret{"k": leak},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, leak) || strings.Contains(out, fmt.Sprintf("%x", leak)) {
				t.Errorf("%s with %s leaks: %s", name, verb, out)
			}
		}
	}
	if got := fmt.Sprint(Secret(leak)); got != "[REDACTED]" {
		t.Errorf("Secret prints %q", got)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty Secret prints %q", got)
	}

	// Logs, in both handlers, as attributes and as whole values.
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("x", "secret", Secret(leak), "user", cfg.Users[0], "cfg", cfg, "engine", e, "holder", h, "u", u)
		if strings.Contains(buf.String(), leak) {
			t.Errorf("log leaks: %s", buf.String())
		}
		if !strings.Contains(buf.String(), "inline") {
			t.Errorf("UserConfig log value lacks the secret source: %s", buf.String())
		}
	}

	// Serialisations.
	j, err := json.Marshal(cfg)
	if err != nil || strings.Contains(string(j), leak) {
		t.Errorf("JSON leaks or fails: %s, %v", j, err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil || strings.Contains(string(y), leak) {
		t.Errorf("YAML leaks or fails: %s, %v", y, err)
	}

	// Decoding still works (redaction is one-way) and Reveal gives it back.
	var back Config
	if err := yaml.Unmarshal([]byte("users: [{secret_key: "+leak+"}]"), &back); err != nil || back.Users[0].SecretKey.Reveal() != leak {
		t.Errorf("YAML decode: %v %q", err, back.Users[0].SecretKey.Reveal())
	}
	if s, _ := h.Secret("AKIAANA1"); s != leak {
		t.Error("Secret() does not return the real secret")
	}
}

// Errors never carry secrets, whatever went wrong.
func TestErrorsDoNotLeakSecrets(t *testing.T) {
	bad := []Config{
		{Users: []UserConfig{{Name: "a", AccessKey: "AKIA1", SecretKey: "short7!", Grants: FullAccess()}}},
		{Users: []UserConfig{{Name: "a", AccessKey: "AKIA1", SecretKey: leak, SecretKeyEnv: "E", Grants: FullAccess()}}},
		{Users: []UserConfig{{Name: "a", AccessKey: "AKIA1", SecretKey: leak + "\x01", Grants: FullAccess()}}},
		{Users: []UserConfig{{Name: "a", AccessKey: "AK", SecretKey: leak}}},
		{Users: []UserConfig{{Name: "a", AccessKey: "AKIA1", SecretKeyFile: "/f", Grants: FullAccess()}}},
	}
	for i, cfg := range bad {
		_, err := Compile(cfg, noEnv, func(string) ([]byte, error) { return []byte("tiny\n"), nil })
		if err == nil {
			t.Fatalf("config %d compiled", i)
		}
		if strings.Contains(err.Error(), leak) || strings.Contains(err.Error(), "short7!") || strings.Contains(err.Error(), "tiny") {
			t.Errorf("config %d: error leaks the secret: %v", i, err)
		}
	}
	h := holder(t, `users: [{access_key: AKIA1, secret_key: `+leak+`, grants: [{buckets: "x", actions: [read]}]}]`, Options{})
	err := h.Caller("AKIA1").Authorize(classify.PutObject, "y", "k")
	if err == nil || strings.Contains(err.Error(), leak) {
		t.Errorf("Authorize error %v", err)
	}
}
