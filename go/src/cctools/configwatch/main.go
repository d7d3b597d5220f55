// Command configwatch is an application that loads its JSON config from
// etcd and applies every change once, written against clientv3.
//
//	configwatch ENDPOINTS KEY
//
// It prints "applied REVISION VALUE" for the config it loads, then the same
// for every change, in order, each exactly once: when the connection is
// lost, clientv3 dials again (another endpoint if there are several) and
// resumes the watch from the last revision it delivered, which this
// program also checks (a revision at or below the last one applied is a
// failure: it would be applied twice). A value that is not JSON is
// printed as "rejected REVISION". ETCD_USER and ETCD_PASSWORD, when set,
// are the credentials.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: configwatch ENDPOINTS KEY")
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(os.Args[1], ","),
		DialTimeout: 5 * time.Second,
		Username:    os.Getenv("ETCD_USER"),
		Password:    os.Getenv("ETCD_PASSWORD"),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "connect: %v\n", err)
		os.Exit(1)
	}
	defer cli.Close()
	key := os.Args[2]
	ctx := context.Background()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		fmt.Fprintf(os.Stderr, "get: %v\n", err)
		os.Exit(1)
	}
	last := resp.Header.Revision
	if len(resp.Kvs) > 0 {
		apply(resp.Kvs[0].ModRevision, resp.Kvs[0].Value)
	} else {
		fmt.Printf("empty %d\n", last)
	}
	for answer := range cli.Watch(ctx, key, clientv3.WithRev(last+1)) {
		if err := answer.Err(); err != nil {
			fmt.Fprintf(os.Stderr, "watch: %v\n", err)
			os.Exit(1)
		}
		for _, event := range answer.Events {
			if event.Kv.ModRevision <= last {
				fmt.Fprintf(os.Stderr, "revision %d delivered again after %d\n", event.Kv.ModRevision, last)
				os.Exit(1)
			}
			last = event.Kv.ModRevision
			if event.Type == clientv3.EventTypePut {
				apply(last, event.Kv.Value)
			} else {
				fmt.Printf("deleted %d\n", last)
			}
		}
	}
}

func apply(revision int64, value []byte) {
	var config map[string]interface{}
	if err := json.Unmarshal(value, &config); err != nil {
		fmt.Printf("rejected %d\n", revision)
		return
	}
	compact, _ := json.Marshal(config)
	fmt.Printf("applied %d %s\n", revision, compact)
}
