package audit

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// strFields lists e's strings, for the properties every field must keep.
func strFields(e *Event) map[string]*string {
	return map[string]*string{"site": &e.Site, "base_path": &e.BasePath, "tenant": &e.Tenant, "caller": &e.Caller,
		"auth": &e.Auth, "client_id": &e.ClientID, "client": &e.Client, "op": &e.Op, "method": &e.Method, "path": &e.Path,
		"id": &e.ID, "external_id": &e.ExternalID, "name": &e.Name, "scim_type": &e.ScimType, "detail": &e.Detail, "remote_ip": &e.RemoteIP}
}

// worstNumbers gives e the longest time and numbers JSON can carry for it.
func worstNumbers(e *Event) {
	e.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	e.Status, e.UpstreamCalls, e.DurationMS = 999, math.MinInt64, -0.0000012345678901234567
}

func checkBounded(t *testing.T, e Event) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxEventBytes {
		t.Fatalf("event JSON of %d bytes, more than %d: %s", len(b), MaxEventBytes, b)
	}
	for k, s := range strFields(&e) {
		if !utf8.ValidString(*s) {
			t.Fatalf("%s is not valid UTF-8: %q", k, *s)
		}
	}
}

// TestBoundWorstCase: every field as long and as costly to encode as a client can
// make it (escapes, multi-byte and invalid UTF-8), with the longest numbers, still
// makes at most MaxEventBytes of JSON; and eventOverhead covers what is not string.
func TestBoundWorstCase(t *testing.T) {
	for _, unit := range []string{"<", "\x01", "\"", "é", "😀", "\xff", "a", "<a\xfe€\\"} {
		var e Event
		for _, s := range strFields(&e) {
			*s = strings.Repeat(unit, 100_000)
		}
		worstNumbers(&e)
		got := Bound(e)
		checkBounded(t, got)
		if unit != "\xff" && (!strings.HasSuffix(got.Client, ellipsis) || !strings.HasSuffix(got.Detail, ellipsis)) {
			t.Errorf("%q: clipped without the mark: %q", unit, got.Client)
		}
	}

	var e Event
	for _, s := range strFields(&e) {
		*s = "x"
	}
	worstNumbers(&e)
	b, _ := json.Marshal(e)
	if over := len(b) - len(strFields(&e)); over > eventOverhead {
		t.Fatalf("an event spends %d bytes outside its strings, eventOverhead says %d", over, eventOverhead)
	} else {
		t.Logf("at most %d bytes outside the strings (eventOverhead %d)", over, eventOverhead)
	}
}

// TestBoundKeeps: an ordinary event is left as it is, and a 16 KiB User-Agent is
// cut to its cap at a character, marked, with the other fields intact.
func TestBoundKeeps(t *testing.T) {
	e := Event{Time: time.Now().UTC(), Site: "app.example.com", BasePath: "/scim/v2", Caller: "token#1", Auth: "token",
		Client: "Okta SCIM Client 1.0.0", Op: "users.create", Method: "POST", Path: "/scim/v2/Users",
		ID: "42", ExternalID: "00u1b2c3", Name: "ada@example.com", Status: 201, Detail: "créé", UpstreamCalls: 3, DurationMS: 12.5, RemoteIP: "192.0.2.1"}
	if got := Bound(e); !reflect.DeepEqual(got, e) {
		t.Fatalf("changed: %+v", got)
	}
	e.Client = strings.Repeat("€", 16<<10/3)
	got := Bound(e)
	if len(got.Client) > maxClient || len(got.Client) < maxClient-6 || !strings.HasSuffix(got.Client, ellipsis) || !utf8.ValidString(got.Client) {
		t.Fatalf("client of %d bytes: %q", len(got.Client), got.Client)
	}
	got.Client = e.Client
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("other fields changed: %+v", got)
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven …"},
		{"éééééé", 10, "ééé…"},                      // é is 2 bytes: 3 fit before the mark
		{"a<b", 8, "a<b"},                           // < costs 6 in JSON: 8 in all
		{"a<bc", 8, "a…"},                           // 9 would not fit
		{"bad\xff\xfebytes", 100, "bad\uFFFDbytes"}, // invalid UTF-8 replaced (a run by one)
		{strings.Repeat("\xff", 1000), 10, "\uFFFD"},
	} {
		if got := Clip(c.in, c.max); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// FuzzBound: whatever the fields hold, the event's JSON stays within the bound and
// every field is valid UTF-8.
func FuzzBound(f *testing.F) {
	f.Add("Mozilla/5.0", "/scim/v2/Users", "detail", "ada@example.com")
	f.Add(strings.Repeat("<", 5000), strings.Repeat("\x00", 3000), strings.Repeat("\xff", 700), strings.Repeat("😀", 400))
	f.Fuzz(func(t *testing.T, client, path, detail, name string) {
		e := Event{Client: client, Path: path, Detail: detail, Name: name, ID: name, Caller: client, ExternalID: path,
			Site: detail, ClientID: name, Op: path, Method: client, RemoteIP: detail, Tenant: name}
		worstNumbers(&e)
		checkBounded(t, Bound(e))
	})
}
