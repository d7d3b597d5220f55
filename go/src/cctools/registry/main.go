// Command registry is a service registering itself in etcd with a lease,
// and a discovery client keeping a live list of the services under a
// prefix, both written against clientv3 as an application would be. The
// tests run it against a real node (and a real etcd) to show clientv3
// programs work unchanged.
//
//	registry serve ENDPOINTS PREFIX NAME ADDRESS TTL
//	    grant a lease of TTL seconds, put PREFIX+NAME = ADDRESS with it,
//	    keep it alive; print "registered NAME" once, then run until killed.
//	registry discover ENDPOINTS PREFIX
//	    print "list A,B,..." for what is registered now, then one line
//	    "up NAME" or "down NAME" per change, followed by the new list.
//
// ENDPOINTS is a comma-separated list; ETCD_USER and ETCD_PASSWORD, when
// set, are the credentials.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func connect(endpoints string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(endpoints, ","),
		DialTimeout: 5 * time.Second,
		Username:    os.Getenv("ETCD_USER"),
		Password:    os.Getenv("ETCD_PASSWORD"),
	})
	if err != nil {
		fail("connect", err)
	}
	return cli
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func serve(cli *clientv3.Client, prefix, name, address string, ttl int64) {
	ctx := context.Background()
	lease, err := cli.Grant(ctx, ttl)
	if err != nil {
		fail("grant", err)
	}
	if _, err := cli.Put(ctx, prefix+name, address, clientv3.WithLease(lease.ID)); err != nil {
		fail("put", err)
	}
	alive, err := cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		fail("keepalive", err)
	}
	fmt.Printf("registered %s\n", name)
	for range alive {
	}
	fail("keepalive", fmt.Errorf("the keep-alive channel closed"))
}

func discover(cli *clientv3.Client, prefix string) {
	ctx := context.Background()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		fail("get", err)
	}
	live := map[string]bool{}
	for _, kv := range resp.Kvs {
		live[strings.TrimPrefix(string(kv.Key), prefix)] = true
	}
	printList(live)
	watch := cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for answer := range watch {
		if err := answer.Err(); err != nil {
			fail("watch", err)
		}
		for _, event := range answer.Events {
			name := strings.TrimPrefix(string(event.Kv.Key), prefix)
			if event.Type == clientv3.EventTypePut {
				if !live[name] {
					live[name] = true
					fmt.Printf("up %s\n", name)
				}
			} else {
				delete(live, name)
				fmt.Printf("down %s\n", name)
			}
			printList(live)
		}
	}
}

func printList(live map[string]bool) {
	names := []string{}
	for name := range live {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("list %s\n", strings.Join(names, ","))
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: registry serve ENDPOINTS PREFIX NAME ADDRESS TTL | registry discover ENDPOINTS PREFIX")
		os.Exit(2)
	}
	cli := connect(os.Args[2])
	defer cli.Close()
	switch os.Args[1] {
	case "serve":
		ttl, err := strconv.ParseInt(os.Args[6], 10, 64)
		if err != nil {
			fail("TTL", err)
		}
		serve(cli, os.Args[3], os.Args[4], os.Args[5], ttl)
	case "discover":
		discover(cli, os.Args[3])
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}
