// grpc-health-check asks a gRPC health service (grpc.health.v1.Health) over a unix socket with
// grpc-go's own generated client, so hallmark's health service is checked by code it did not write.
//
//	grpc-health-check -socket PATH [-service NAME] [-watch N]
//
// Check (the default) prints one line: the serving status name, or "error CODE" for a status
// error; then the value of the hallmark-health-report trailer, if the server sent one. With
// -watch N it prints the status of each of the first N Watch messages, one per line, then exits.
// Exit status: 0 after an answer (whatever the status), 1 on a usage or transport failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func main() {
	socket := flag.String("socket", "", "unix socket path of the health service")
	service := flag.String("service", "", "service name to ask about (empty: the server as a whole)")
	watch := flag.Int("watch", 0, "read this many Watch messages instead of one Check")
	timeout := flag.Duration("timeout", 20*time.Second, "deadline for the whole exchange")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "-socket is required")
		os.Exit(1)
	}
	conn, err := grpc.NewClient("unix://"+*socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := healthpb.NewHealthClient(conn)
	if *watch > 0 {
		os.Exit(watchStatuses(ctx, client, *service, *watch))
	}
	var trailer metadata.MD
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: *service}, grpc.Trailer(&trailer))
	if err != nil {
		fmt.Println("error", status.Code(err).String())
		os.Exit(0)
	}
	fmt.Println(resp.GetStatus().String())
	for _, report := range trailer.Get("hallmark-health-report") {
		fmt.Println(report)
	}
}

func watchStatuses(ctx context.Context, client healthpb.HealthClient, service string, count int) int {
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		return 1
	}
	for i := 0; i < count; i++ {
		resp, err := stream.Recv()
		if err == io.EOF {
			fmt.Fprintln(os.Stderr, "watch: the server ended the stream")
			return 1
		}
		if err != nil {
			fmt.Println("error", status.Code(err).String())
			return 0
		}
		fmt.Println(resp.GetStatus().String())
	}
	return 0
}
