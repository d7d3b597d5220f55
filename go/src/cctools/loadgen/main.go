// Command loadgen puts load on an etcd v3 endpoint through clientv3, the
// same way against a real etcd and against a config_center node, for
// bench/grpc_bench.py.
//
//	loadgen put   ENDPOINT CLIENTS CONNECTIONS SECONDS VALUE_BYTES
//	loadgen range ENDPOINT CLIENTS CONNECTIONS SECONDS
//	loadgen watch ENDPOINT WATCHERS CONNECTIONS EVENTS
//
// put and range: CLIENTS goroutines share CONNECTIONS clients (each its
// own gRPC connection), each sending one request after another for
// SECONDS; keys are spread over 1,000 names; range reads are linearizable.
// watch: WATCHERS watches on one prefix over CONNECTIONS clients, then
// EVENTS puts one after another; the time from each put to its delivery
// on every watcher. Prints one JSON object: operations, seconds, rate,
// latency percentiles in milliseconds.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type result struct {
	Mode       string  `json:"mode"`
	Clients    int     `json:"clients"`
	Operations int64   `json:"operations"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"rate"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
}

func clients(endpoint string, n int) []*clientv3.Client {
	out := make([]*clientv3.Client, n)
	for i := range out {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintf(os.Stderr, "connect: %v\n", err)
			os.Exit(1)
		}
		out[i] = c
	}
	return out
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "not a number: %q\n", s)
		os.Exit(2)
	}
	return n
}

func load(mode, endpoint string, workers, connections int, seconds float64, value string) result {
	pool := clients(endpoint, connections)
	var ops, errs int64
	latencies := make([][]time.Duration, workers)
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	started := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cli := pool[w%connections]
			for i := 0; time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("/bench/%03d", (w*7919+i)%1000)
				t := time.Now()
				var err error
				if mode == "put" {
					_, err = cli.Put(context.Background(), key, value)
				} else {
					_, err = cli.Get(context.Background(), key)
				}
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				latencies[w] = append(latencies[w], time.Since(t))
				atomic.AddInt64(&ops, 1)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	all := []time.Duration{}
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, c := range pool {
		c.Close()
	}
	return result{mode, workers, ops, errs, elapsed, float64(ops) / elapsed, percentile(all, 0.5), percentile(all, 0.99)}
}

func watch(endpoint string, watchers, connections, events int) result {
	pool := clients(endpoint, connections)
	writer := clients(endpoint, 1)[0]
	var mu sync.Mutex
	delivered := map[string][]time.Time{}
	var ready, wg sync.WaitGroup
	for w := 0; w < watchers; w++ {
		ready.Add(1)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := pool[w%connections].Watch(ctx, "/fanout/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			<-ch // created
			ready.Done()
			seen := 0
			for answer := range ch {
				now := time.Now()
				for _, e := range answer.Events {
					mu.Lock()
					delivered[string(e.Kv.Value)] = append(delivered[string(e.Kv.Value)], now)
					mu.Unlock()
					seen++
				}
				if seen >= events {
					return
				}
			}
		}(w)
	}
	ready.Wait()
	sent := map[string]time.Time{}
	started := time.Now()
	for i := 0; i < events; i++ {
		v := strconv.Itoa(i)
		sent[v] = time.Now()
		if _, err := writer.Put(context.Background(), "/fanout/k", v); err != nil {
			fmt.Fprintf(os.Stderr, "put: %v\n", err)
			os.Exit(1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	all := []time.Duration{}
	var count int64
	for v, times := range delivered {
		for _, t := range times {
			all = append(all, t.Sub(sent[v]))
			count++
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return result{"watch", watchers, count, int64(watchers*events) - count, elapsed, float64(count) / elapsed,
		percentile(all, 0.5), percentile(all, 0.99)}
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: see the comment at the top of loadgen/main.go")
		os.Exit(2)
	}
	var r result
	switch os.Args[1] {
	case "put":
		size := atoi(os.Args[6])
		value := string(make([]byte, size))
		r = load("put", os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]), float64(atoi(os.Args[5])), value)
	case "range":
		r = load("range", os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]), float64(atoi(os.Args[5])), "")
	case "watch":
		r = watch(os.Args[2], atoi(os.Args[3]), atoi(os.Args[4]), atoi(os.Args[5]))
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
