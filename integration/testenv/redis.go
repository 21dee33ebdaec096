package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

	port    int
	private bool // from RedisPrivate: Stop and Start are allowed
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

// RedisClusterServer is a three-master Redis Cluster on loopback ports, started once per test
// binary, without persistence and without a password.
type RedisClusterServer struct {
	// Addrs are the masters' host:port, any of which a cluster client can start from.
	Addrs []string
	// Dir is the work directory (one node-<port> directory per node, with redis.log).
	Dir string
}

// RedisSentinelServer is one Redis master watched by one Sentinel (quorum 1) on loopback
// ports, started once per test binary.
type RedisSentinelServer struct {
	// SentinelAddrs are the sentinels' host:port.
	SentinelAddrs []string
	// MasterName is the name the sentinel monitors the master under ("mymaster").
	MasterName string
	// MasterAddr is the master's host:port, for tests that talk to it directly.
	MasterAddr string
	// Dir is the work directory (master/redis.log, sentinel/sentinel.log).
	Dir string
}

var (
	clusterOnce  sync.Once
	clusterSrv   *RedisClusterServer
	clusterErr   error
	sentinelOnce sync.Once
	sentinelSrv  *RedisSentinelServer
	sentinelErr  error
)

// clusterBusOffset is where Redis puts a node's cluster bus port: port+10000.
const clusterBusOffset = 10000

// RedisCluster returns the test binary's Redis Cluster (three masters, no replicas),
// installing redis-server when it is missing and starting the cluster on the first
// call. Setup failures fail tb with the script's output.
func RedisCluster(tb testing.TB) *RedisClusterServer {
	tb.Helper()
	requireMain(tb)
	clusterOnce.Do(func() {
		dir, env, err := startMulti("start-cluster", "stop-cluster", "caddy-scim-redis-cluster-", 3, clusterBusOffset)
		if err != nil {
			clusterErr = err
			return
		}
		clusterSrv = &RedisClusterServer{Dir: dir}
		if a := env["REDIS_CLUSTER_ADDRS"]; a != "" {
			clusterSrv.Addrs = strings.Split(a, ",")
		}
		if len(clusterSrv.Addrs) != 3 {
			clusterErr = fmt.Errorf("redis.sh start-cluster wrote an incomplete env file in %s", dir)
		}
	})
	if clusterErr != nil {
		tb.Fatalf("testenv: starting redis cluster: %v", clusterErr)
	}
	return clusterSrv
}

// RedisSentinel returns the test binary's Sentinel setup (one master, one sentinel
// monitoring it as "mymaster"), starting it on the first call.
func RedisSentinel(tb testing.TB) *RedisSentinelServer {
	tb.Helper()
	requireMain(tb)
	sentinelOnce.Do(func() {
		dir, env, err := startMulti("start-sentinel", "stop-sentinel", "caddy-scim-redis-sentinel-", 2, 0)
		if err != nil {
			sentinelErr = err
			return
		}
		sentinelSrv = &RedisSentinelServer{Dir: dir, MasterName: env["REDIS_MASTER_NAME"], MasterAddr: env["REDIS_MASTER_ADDR"]}
		if a := env["REDIS_SENTINEL_ADDRS"]; a != "" {
			sentinelSrv.SentinelAddrs = strings.Split(a, ",")
		}
		if len(sentinelSrv.SentinelAddrs) == 0 || sentinelSrv.MasterName == "" || sentinelSrv.MasterAddr == "" {
			sentinelErr = fmt.Errorf("redis.sh start-sentinel wrote an incomplete env file in %s", dir)
		}
	})
	if sentinelErr != nil {
		tb.Fatalf("testenv: starting redis sentinel: %v", sentinelErr)
	}
	return sentinelSrv
}

// privateRedisArgs lets fault tests stall the server with DEBUG SLEEP, from loopback
// only; Redis 7 refuses DEBUG by default.
var privateRedisArgs = []string{"--enable-debug-command", "local"}

// RedisPrivate starts a Redis of tb's own, for tests that stop, restart, flush or stall
// it (DEBUG is enabled from loopback): the shared one from Redis must never be
// disturbed. It is stopped when tb ends.
func RedisPrivate(tb testing.TB) *RedisServer {
	tb.Helper()
	requireMain(tb)
	if out, err := runScript(10*time.Minute, "redis.sh", "install"); err != nil {
		tb.Fatalf("testenv: redis.sh install: %v\n%s", err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp("", "caddy-scim-redis-own-")
		if err != nil {
			tb.Fatal(err)
		}
		ports, err := freePorts(1, 0)
		if err != nil {
			os.RemoveAll(dir)
			tb.Fatal(err)
		}
		out, err := runScript(time.Minute, "redis.sh", append([]string{"start", dir, strconv.Itoa(ports[0])}, privateRedisArgs...)...)
		if err != nil {
			_, _ = runScript(time.Minute, "redis.sh", "stop", dir)
			os.RemoveAll(dir)
			lastErr = fmt.Errorf("redis.sh start: %v\n%s", err, out)
			continue
		}
		srv := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), Dir: dir, port: ports[0], private: true}
		tb.Cleanup(func() {
			_, _ = runScript(time.Minute, "redis.sh", "stop", dir)
			os.RemoveAll(dir)
		})
		return srv
	}
	tb.Fatalf("testenv: starting a private redis: %v", lastErr)
	return nil
}

// Stop stops a server from RedisPrivate (TERM, then KILL), keeping its directory so
// that Start can bring it back on the same port. Nothing reserves the port meanwhile,
// so restart it promptly.
func (r *RedisServer) Stop(tb testing.TB) {
	tb.Helper()
	if !r.private {
		tb.Fatal("testenv: Stop is only for servers from RedisPrivate; the shared Redis serves other tests")
	}
	if out, err := runScript(time.Minute, "redis.sh", "stop", r.Dir); err != nil {
		tb.Fatalf("testenv: redis.sh stop: %v\n%s", err, out)
	}
}

// Start starts a stopped server from RedisPrivate again on the same port, empty.
func (r *RedisServer) Start(tb testing.TB) {
	tb.Helper()
	if !r.private {
		tb.Fatal("testenv: Start is only for servers from RedisPrivate")
	}
	if out, err := runScript(time.Minute, "redis.sh", append([]string{"start", r.Dir, strconv.Itoa(r.port)}, privateRedisArgs...)...); err != nil {
		tb.Fatalf("testenv: redis.sh start on port %d again: %v\n%s", r.port, err, out)
	}
}

// freePorts returns n distinct free loopback ports. With busOffset > 0 each port p
// also has p+busOffset free and below 65536 (a cluster node's bus port). As with
// freePort, another process may take one before it is bound; callers retry.
func freePorts(n, busOffset int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 200 {
			return nil, fmt.Errorf("no %d free loopback ports found", n)
		}
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if seen[p] || (busOffset > 0 && (seen[p+busOffset] || p+busOffset > 65535 || !portFree(p+busOffset))) {
			continue
		}
		seen[p], seen[p+busOffset] = true, true
		ports = append(ports, p)
	}
	return ports, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startMulti is startService for the redis.sh commands that take several ports: it
// installs, starts on fresh ports (retrying on failure) and registers the stop.
func startMulti(startCmd, stopCmd, tmpPrefix string, nports, busOffset int) (string, map[string]string, error) {
	t0 := time.Now()
	if out, err := runScript(10*time.Minute, "redis.sh", "install"); err != nil {
		return "", nil, fmt.Errorf("redis.sh install: %v\n%s", err, out)
	}
	t1 := time.Now()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp("", tmpPrefix)
		if err != nil {
			return "", nil, err
		}
		ports, err := freePorts(nports, busOffset)
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		args := []string{startCmd, dir}
		for _, p := range ports {
			args = append(args, strconv.Itoa(p))
		}
		out, err := runScript(2*time.Minute, "redis.sh", args...)
		if err != nil {
			_, _ = runScript(time.Minute, "redis.sh", stopCmd, dir)
			os.RemoveAll(dir)
			lastErr = fmt.Errorf("redis.sh %s: %v\n%s", startCmd, err, out)
			continue
		}
		env, err := readEnvFile(filepath.Join(dir, "env"))
		if err != nil {
			_, _ = runScript(time.Minute, "redis.sh", stopCmd, dir)
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("redis.sh %s: reading env: %v\n%s", startCmd, err, out)
		}
		onShutdown(func() {
			_, _ = runScript(time.Minute, "redis.sh", stopCmd, dir)
			os.RemoveAll(dir)
		})
		mu.Lock()
		setupTime["redis.sh install"] = t1.Sub(t0)
		setupTime["redis.sh "+startCmd] = time.Since(t1)
		mu.Unlock()
		return dir, env, nil
	}
	return "", nil, lastErr
}
