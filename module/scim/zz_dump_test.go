package scim

import (
	"fmt"
	"os"
	"testing"
)

func TestDumpDecode(t *testing.T) {
	f, _ := os.Create(os.Getenv("DUMP"))
	defer f.Close()
	for _, b := range []string{``, `null`, `[]`, `"x"`, `1`, `true`, `{`, `[1,`, `{"a":1} x`, `{}`, `{"schemas":"x"}`,
		`[{"schemas":1}]`, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"value":"x","primary":true}],"name":{"givenName":"g"}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a\ud800","active":"TRUE"}`, "\xff", `{"a":"\xff"}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","userName":"b"}`} {
		r, err := DecodeResource([]byte(b), UserResourceType)
		fmt.Fprintf(f, "%q => %v | %v\n", b, r, err)
	}
}
