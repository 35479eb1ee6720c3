package main

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/status"
)

type burstReport struct {
	Mode    string         `json:"mode"`
	Clients int            `json:"clients"`
	Served  int            `json:"served"`
	Failed  int            `json:"failed"`
	P50     float64        `json:"p50_ms"`
	P99     float64        `json:"p99_ms"`
	Max     float64        `json:"max_ms"`
	Wall    float64        `json:"wall_ms"`
	Errors  map[string]int `json:"errors"`
}

// runBurst starts n clients at one instant (each with its own connection, made inside the timed
// call, as a workload starting up makes it) and times each FetchX509SVID to its first message.
func runBurst(n int, timeout time.Duration, options []workloadapi.ClientOption) *burstReport {
	ctx, cancel := withTimeout(timeout)
	defer cancel()
	latencies := make([]time.Duration, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var ready, finished sync.WaitGroup
	ready.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer finished.Done()
			client, err := workloadapi.New(ctx, options...)
			ready.Done()
			if err != nil {
				errs[i] = err
				return
			}
			defer client.Close()
			<-start
			began := time.Now()
			_, errs[i] = client.FetchX509SVID(ctx)
			latencies[i] = time.Since(began)
		}(i)
	}
	ready.Wait()
	began := time.Now()
	close(start)
	finished.Wait()
	wall := time.Since(began)

	report := &burstReport{Mode: "burst", Clients: n, Errors: map[string]int{}, Wall: ms(wall)}
	var served []time.Duration
	for i, err := range errs {
		if err != nil {
			report.Failed++
			report.Errors[describe(err)]++
			continue
		}
		served = append(served, latencies[i])
	}
	report.Served = len(served)
	sort.Slice(served, func(a, b int) bool { return served[a] < served[b] })
	if len(served) > 0 {
		report.P50 = ms(percentile(served, 0.50))
		report.P99 = ms(percentile(served, 0.99))
		report.Max = ms(served[len(served)-1])
	}
	return report
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	if rank < 0 {
		rank = 0
	}
	return sorted[rank]
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

// describe groups failures by status code and message, so a thousand alike fold into one line.
func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", s.Code(), s.Message())
	}
	return err.Error()
}
