#!/usr/bin/env bash
# demo.sh — Caddy with caddy-scim in front of a real local Gitea, ready for an IdP
# (or curl). Started by `./xcaddy.sh demo`. Ctrl-C stops Caddy and Gitea.
#
#   DEMO_PORT   Caddy's port (default 8080)
#   GITEA_PORT  Gitea's port (default 3000)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEMO=$ROOT/.demo
DEMO_PORT=${DEMO_PORT:-8080}
GITEA_PORT=${GITEA_PORT:-3000}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$DEMO_PORT" "$GITEA_PORT"; do
	port_free "$p" || { echo "demo: port $p is in use; set DEMO_PORT / GITEA_PORT" >&2; exit 1; }
done

bash "$ROOT/integration/scripts/gitea.sh" install
bash "$ROOT/xcaddy.sh" build -o "$ROOT/caddy" >/dev/null

mkdir -p "$DEMO"
# a fresh Gitea each run keeps the demo repeatable
bash "$ROOT/integration/scripts/gitea.sh" stop "$DEMO/gitea" 2>/dev/null || true
rm -rf "$DEMO/gitea" "$DEMO/links.db" # the links belong with the Gitea they describe
bash "$ROOT/integration/scripts/gitea.sh" start "$DEMO/gitea" "$GITEA_PORT" >/dev/null
# shellcheck disable=SC1091
source "$DEMO/gitea/env"
trap 'bash "$ROOT/integration/scripts/gitea.sh" stop "$DEMO/gitea"' EXIT

if [ ! -s "$DEMO/scim-token" ]; then
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO/scim-token"
	chmod 600 "$DEMO/scim-token"
fi
SCIM_TOKEN=$(cat "$DEMO/scim-token")
if [ ! -s "$DEMO/activity-token" ]; then
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO/activity-token"
	chmod 600 "$DEMO/activity-token"
fi
ACTIVITY_TOKEN=$(cat "$DEMO/activity-token")

cat >"$DEMO/Caddyfile" <<CADDY
{
	admin off
	auto_https off
	persist_config off
}

http://localhost:$DEMO_PORT, http://127.0.0.1:$DEMO_PORT {
	bind 127.0.0.1
	log
	handle /scim-activity {
		scim_activity {
			token {env.ACTIVITY_TOKEN}
		}
	}
	scim {
		token {env.SCIM_TOKEN}
		links_file $DEMO/links.db
		adapter gitea {
			url {env.GITEA_URL}
			token {env.GITEA_TOKEN}
		}
	}
	reverse_proxy $GITEA_URL
}
CADDY

BASE="http://localhost:$DEMO_PORT/scim/v2"
cat <<MSG

caddy-scim demo
  SCIM endpoint  $BASE        (Gitea $GITEA_URL behind it; everything else is proxied)
  IdP token      $SCIM_TOKEN
  Gitea admin    $GITEA_ADMIN / scim-admin-password-1
  Activity page  http://localhost:$DEMO_PORT/scim-activity   (any user name, password $ACTIVITY_TOKEN)
  Identity links $DEMO/links.db   (the embedded link store: the record of each identity)

Create a user through SCIM (Okta's body):

  curl -s -X POST $BASE/Users \\
    -H "Authorization: Bearer $SCIM_TOKEN" -H "Content-Type: application/scim+json" \\
    -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
         "name":{"givenName":"Test","familyName":"User"},
         "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
         "displayName":"Test User","externalId":"00ujl29u0le5T6Aj10h7","active":true}'

Then look it up as Entra ID would, and deprovision it as Okta does:

  curl -s -H "Authorization: Bearer $SCIM_TOKEN" '$BASE/Users?filter=externalId%20eq%20%2200ujl29u0le5T6Aj10h7%22'
  curl -s -X PATCH $BASE/Users/<id> -H "Authorization: Bearer $SCIM_TOKEN" -H "Content-Type: application/scim+json" \\
    -d '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}'

and see the real user in Gitea:  curl -s -H "Authorization: token $GITEA_TOKEN" $GITEA_URL/api/v1/users/test.user

Ctrl-C stops Caddy and Gitea.
MSG

SCIM_TOKEN=$SCIM_TOKEN ACTIVITY_TOKEN=$ACTIVITY_TOKEN GITEA_URL=$GITEA_URL GITEA_TOKEN=$GITEA_TOKEN \
	"$ROOT/caddy" run --config "$DEMO/Caddyfile" --adapter caddyfile
