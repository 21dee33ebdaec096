package testenv

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// RedisServer is a real redis-server started for this test binary on a loopback port,
// without persistence and without a password.
type RedisServer struct {
	// Addr is host:port.
	Addr string
	// Dir is the work directory (redis.log).
	Dir string
}

var (
	redisOnce sync.Once
	redisSrv  *RedisServer
	redisErr  error
)

// Redis returns the test binary's Redis, installing redis-server with apt-get when it
// is missing and starting it on the first call. Setup failures fail tb with the
// script's output.
func Redis(tb testing.TB) *RedisServer {
	tb.Helper()
	requireMain(tb)
	redisOnce.Do(func() {
		dir, env, err := startService("redis.sh", "caddy-scim-redis-", 10*time.Minute, time.Minute)
		if err != nil {
			redisErr = err
			return
		}
		redisSrv = &RedisServer{Addr: env["REDIS_ADDR"], Dir: dir}
		if redisSrv.Addr == "" {
			redisErr = fmt.Errorf("redis.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if redisErr != nil {
		tb.Fatalf("testenv: starting redis: %v", redisErr)
	}
	return redisSrv
}
