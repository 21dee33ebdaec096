package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
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

// RedisClusterServer is a three-master Redis Cluster on loopback ports, without
// persistence and without a password: the test binary's (RedisCluster), or a test's
// own with a replica per master (RedisClusterHA).
type RedisClusterServer struct {
	// Addrs are the nodes' host:port, masters first, any of which a cluster client
	// can start from.
	Addrs []string
	// Dir is the work directory (one node-<port> directory per node, with redis.log).
	Dir string

	private bool
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
	// ReplicaAddr is the replica's host:port (RedisSentinelHA only).
	ReplicaAddr string
	// Dir is the work directory (master/redis.log, sentinel/sentinel.log).
	Dir string

	private bool
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
		dir, env, err := startMulti(onShutdown, "start-cluster", "stop-cluster", "caddy-scim-redis-cluster-", 3, clusterBusOffset)
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
		dir, env, err := startMulti(onShutdown, "start-sentinel", "stop-sentinel", "caddy-scim-redis-sentinel-", 2, 0)
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
// installs, starts on fresh ports (retrying on failure) and registers the stop with
// cleanup (onShutdown, or a test's Cleanup).
func startMulti(cleanup func(func()), startCmd, stopCmd, tmpPrefix string, nports, busOffset int) (string, map[string]string, error) {
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
		cleanup(func() {
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

// RedisSentinelHA starts a Sentinel setup of tb's own with a replica (one master, one
// replica, one sentinel, quorum 1), for tests that kill its master; it is stopped
// when tb ends.
func RedisSentinelHA(tb testing.TB) *RedisSentinelServer {
	tb.Helper()
	requireMain(tb)
	dir, env, err := startMulti(tb.Cleanup, "start-sentinel", "stop-sentinel", "caddy-scim-redis-sentinel-ha-", 3, 0)
	if err != nil {
		tb.Fatalf("testenv: starting redis sentinel with a replica: %v", err)
	}
	s := &RedisSentinelServer{Dir: dir, MasterName: env["REDIS_MASTER_NAME"], MasterAddr: env["REDIS_MASTER_ADDR"],
		ReplicaAddr: env["REDIS_REPLICA_ADDR"], SentinelAddrs: strings.Split(env["REDIS_SENTINEL_ADDRS"], ","), private: true}
	if s.ReplicaAddr == "" || s.MasterAddr == "" {
		tb.Fatalf("testenv: redis.sh start-sentinel wrote an incomplete env file in %s", dir)
	}
	return s
}

// KillMaster SIGKILLs the master of a RedisSentinelHA setup and waits until the
// sentinel has promoted the replica. With lag > 0 the replica is stalled for lag
// first (DEBUG SLEEP) and the master killed halfway through, so that the writes the
// master acknowledged meanwhile never reach the replica: they are lost, as
// asynchronous replication allows. It returns how long the failover took.
func (s *RedisSentinelServer) KillMaster(tb testing.TB, lag time.Duration) time.Duration {
	tb.Helper()
	if !s.private {
		tb.Fatal("testenv: KillMaster is only for setups from RedisSentinelHA")
	}
	stallReplica(tb, s.ReplicaAddr, lag)
	t0 := time.Now()
	killPidFile(tb, filepath.Join(s.Dir, "master", "redis.pid"))
	host, port, _ := net.SplitHostPort(s.ReplicaAddr)
	waitCLI(tb, 60*time.Second, "the sentinel to promote the replica", func() bool {
		out, err := redisCLI(s.SentinelAddrs[0], "sentinel", "get-master-addr-by-name", s.MasterName)
		f := strings.Fields(out)
		return err == nil && len(f) == 2 && f[0] == host && f[1] == port
	})
	s.MasterAddr, s.ReplicaAddr = s.ReplicaAddr, ""
	return time.Since(t0)
}

// RedisClusterHA starts a Redis Cluster of tb's own with three masters and a
// replica each, for tests that kill a master; it is stopped when tb ends.
func RedisClusterHA(tb testing.TB) *RedisClusterServer {
	tb.Helper()
	requireMain(tb)
	dir, env, err := startMulti(tb.Cleanup, "start-cluster", "stop-cluster", "caddy-scim-redis-cluster-ha-", 6, clusterBusOffset)
	if err != nil {
		tb.Fatalf("testenv: starting redis cluster with replicas: %v", err)
	}
	c := &RedisClusterServer{Dir: dir, Addrs: strings.Split(env["REDIS_CLUSTER_ADDRS"], ","), private: true}
	if len(c.Addrs) != 6 {
		tb.Fatalf("testenv: redis.sh start-cluster wrote an incomplete env file in %s", dir)
	}
	return c
}

// KillMaster SIGKILLs the first master of a RedisClusterHA cluster and waits until
// its replica has taken over its slots and every live node reports cluster_state:ok.
// lag is as for RedisSentinelServer.KillMaster. It returns how long that took.
func (c *RedisClusterServer) KillMaster(tb testing.TB, lag time.Duration) time.Duration {
	tb.Helper()
	if !c.private {
		tb.Fatal("testenv: KillMaster is only for clusters from RedisClusterHA")
	}
	victim, live := c.Addrs[0], c.Addrs[1:]
	nodes := func() [][]string { // id addr@bus flags master-id ping pong epoch link slots…
		out, err := redisCLI(live[0], "cluster", "nodes")
		if err != nil {
			return nil
		}
		var rows [][]string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) >= 8 {
				rows = append(rows, f)
			}
		}
		return rows
	}
	var victimID, replica string
	for _, f := range nodes() {
		if strings.HasPrefix(f[1], victim+"@") {
			victimID = f[0]
		}
	}
	for _, f := range nodes() {
		if victimID != "" && f[3] == victimID {
			replica, _, _ = strings.Cut(f[1], "@")
		}
	}
	if replica == "" {
		tb.Fatalf("testenv: no replica of %s in the cluster", victim)
	}
	stallReplica(tb, replica, lag)
	t0 := time.Now()
	_, port, _ := net.SplitHostPort(victim)
	killPidFile(tb, filepath.Join(c.Dir, "node-"+port, "redis.pid"))
	waitCLI(tb, 60*time.Second, "the cluster to fail over", func() bool {
		for _, a := range live {
			out, err := redisCLI(a, "cluster", "info")
			if err != nil || !strings.Contains(out, "cluster_state:ok") {
				return false
			}
		}
		for _, f := range nodes() {
			if f[0] == victimID && (!strings.Contains(f[2], "fail") || strings.Contains(f[2], "fail?")) {
				return false // not yet agreed dead
			}
			if strings.HasPrefix(f[1], replica+"@") && !strings.Contains(f[2], "master") {
				return false // not yet promoted
			}
		}
		return true
	})
	c.Addrs = live
	return time.Since(t0)
}

// stallReplica makes the replica at addr sleep for lag (DEBUG SLEEP, from another
// goroutine) and returns halfway through it; lag 0 does nothing.
func stallReplica(tb testing.TB, addr string, lag time.Duration) {
	tb.Helper()
	if lag <= 0 {
		return
	}
	go func() { _, _ = redisCLI(addr, "debug", "sleep", strconv.FormatFloat(lag.Seconds(), 'f', 3, 64)) }()
	time.Sleep(lag / 2)
}

func killPidFile(tb testing.TB, pidfile string) {
	tb.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("testenv: pid file %s: %v", pidfile, err)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		tb.Fatalf("testenv: killing redis %d: %v", pid, err)
	}
}

func redisCLI(addr string, args ...string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

func waitCLI(tb testing.TB, limit time.Duration, what string, ok func() bool) {
	tb.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return
		}
	}
	tb.Fatalf("testenv: waited %s for %s", limit, what)
}
