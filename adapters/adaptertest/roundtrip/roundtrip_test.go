package roundtrip_test

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
)

// The reference adapter keeps every attribute it advertises.
func TestMemory(t *testing.T) { roundtrip.Run(t, &adaptertest.Memory{}) }
