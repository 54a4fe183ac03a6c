package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// AWSCLIEnv is the environment for aws-cli (and boto3 scripts) signing as
// g's full-access user: a home of its own with a config file whose
// [default] profile has the harness region and s3Settings (lines such as
// "addressing_style = path") under "s3 =", and nothing of the machine's
// AWS_*, proxy or CA settings. It requires aws-cli (a failure under
// CI=true, a skip otherwise).
func AWSCLIEnv(t testing.TB, g *Gateway, s3Settings ...string) []string {
	t.Helper()
	aws := Require(t, "aws")
	home := t.TempDir()
	config := "[default]\nregion = " + Region + "\n"
	if len(s3Settings) > 0 {
		config += "s3 =\n"
		for _, line := range s3Settings {
			config += "  " + line + "\n"
		}
	}
	path := filepath.Join(home, "config")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return ClientEnv(home,
		"PATH="+filepath.Dir(aws)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AWS_CONFIG_FILE="+path, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
		"AWS_ACCESS_KEY_ID="+g.AccessKey(), "AWS_SECRET_ACCESS_KEY="+g.SecretKey(),
		"AWS_EC2_METADATA_DISABLED=true")
}
