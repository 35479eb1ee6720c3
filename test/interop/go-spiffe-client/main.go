// go-spiffe-client checks a SPIFFE Workload API with the official Go library, go-spiffe v2
// (workloadapi, x509svid, jwtsvid), so hallmark's agent is judged by code it did not write.
//
//	go-spiffe-client [-socket unix:///path/api.sock] [-audience AUD] [-watch-rotation 2m] [-timeout 30s]
//	go-spiffe-client -burst N [-socket ...] [-timeout 60s]
//
// Without -socket, go-spiffe reads SPIFFE_ENDPOINT_SOCKET, as every workload does.
//
// The checks: FetchX509Context, each SVID verified by x509svid.Verify against the fetched bundles;
// FetchJWTSVID for the audience, validated by jwtsvid.ParseAndValidate against FetchJWTBundles and
// by the Workload API's own ValidateJWTSVID, and refused by both for another audience; with
// -watch-rotation, a WatchX509Context that waits until the SVID's serial number changes and
// verifies the new SVID. One JSON summary on stdout; exit status 1 if any check failed.
//
// -burst N: N clients at once (each its own connection), each timing FetchX509SVID until the first
// message; prints the latencies (p50, p99, max) as JSON; exit status 1 unless all were served.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	socket := flag.String("socket", "", "Workload API address: unix:///path or a path (default: $SPIFFE_ENDPOINT_SOCKET)")
	audience := flag.String("audience", "hallmark-interop", "the audience of the JWT-SVID to fetch and validate")
	watchRotation := flag.Duration("watch-rotation", 0, "also watch until the SVID's serial changes, for at most this long (0: do not watch)")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline for the fetch and validate checks (and for the whole burst)")
	burst := flag.Int("burst", 0, "instead of the checks: this many concurrent clients, each timing its first FetchX509SVID message")
	flag.Parse()

	var options []workloadapi.ClientOption
	if *socket != "" {
		options = append(options, workloadapi.WithAddr(address(*socket)))
	}
	if *burst > 0 {
		report := runBurst(*burst, *timeout, options)
		os.Exit(printJSON(report, report.Failed == 0))
	}
	report := runChecks(*audience, *timeout, *watchRotation, options)
	os.Exit(printJSON(report, len(report.Failures) == 0))
}

// address accepts a bare path for convenience; go-spiffe takes only URIs.
func address(socket string) string {
	if strings.HasPrefix(socket, "/") {
		return "unix://" + socket
	}
	return socket
}

func printJSON(report any, ok bool) int {
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "encoding the summary:", err)
		return 1
	}
	fmt.Println(string(out))
	if !ok {
		return 1
	}
	return 0
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
