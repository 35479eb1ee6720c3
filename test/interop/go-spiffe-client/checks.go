package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

type checkReport struct {
	OK       bool            `json:"ok"`
	X509     []x509Summary   `json:"x509_svids"`
	Bundles  []string        `json:"x509_bundles"`
	JWT      *jwtSummary     `json:"jwt_svid"`
	Rotation *rotationReport `json:"rotation"`
	Failures []string        `json:"failures"`
}

type x509Summary struct {
	SPIFFEID string `json:"spiffe_id"`
	Hint     string `json:"hint"`
	Serial   string `json:"serial"`
	Expires  string `json:"expires_at"`
	Chain    int    `json:"chain_length"`
	// The chain x509svid.Verify built, leaf to root, root included.
	VerifiedChain int `json:"verified_chain_length"`
}

type jwtSummary struct {
	SPIFFEID          string   `json:"spiffe_id"`
	Audience          []string `json:"audience"`
	Expires           string   `json:"expires_at"`
	ValidatedLocally  bool     `json:"validated_by_library"`
	ValidatedByAgent  bool     `json:"validated_by_workload_api"`
	OtherAudienceDeny bool     `json:"other_audience_refused"`
}

type rotationReport struct {
	SPIFFEID  string `json:"spiffe_id"`
	OldSerial string `json:"old_serial"`
	NewSerial string `json:"new_serial"`
	Verified  bool   `json:"verified"`
}

func runChecks(audience string, timeout, watchRotation time.Duration, options []workloadapi.ClientOption) *checkReport {
	report := &checkReport{X509: []x509Summary{}, Bundles: []string{}, Failures: []string{}}
	fail := func(format string, args ...any) {
		report.Failures = append(report.Failures, fmt.Sprintf(format, args...))
	}
	ctx, cancel := withTimeout(timeout)
	defer cancel()
	client, err := workloadapi.New(ctx, options...)
	if err != nil {
		fail("workloadapi.New: %v", err)
		return report
	}
	defer client.Close()

	checkX509(ctx, client, report, fail)
	checkJWT(ctx, client, audience, report, fail)
	if watchRotation > 0 && len(report.X509) > 0 {
		report.Rotation = watchForRotation(client, report.X509[0], watchRotation, fail)
	}
	report.OK = len(report.Failures) == 0
	return report
}

func checkX509(ctx context.Context, client *workloadapi.Client, report *checkReport, fail func(string, ...any)) {
	x509Context, err := client.FetchX509Context(ctx)
	if err != nil {
		fail("FetchX509Context: %v", err)
		return
	}
	for _, b := range x509Context.Bundles.Bundles() {
		report.Bundles = append(report.Bundles, b.TrustDomain().IDString())
	}
	for _, svid := range x509Context.SVIDs {
		summary := summarizeX509(svid)
		id, chains, err := x509svid.Verify(svid.Certificates, x509Context.Bundles)
		switch {
		case err != nil:
			fail("x509svid.Verify %s: %v", svid.ID, err)
		case id != svid.ID:
			fail("x509svid.Verify: the certificate says %s, the Workload API said %s", id, svid.ID)
		default:
			summary.VerifiedChain = len(chains[0])
		}
		report.X509 = append(report.X509, summary)
	}
}

func summarizeX509(svid *x509svid.SVID) x509Summary {
	leaf := svid.Certificates[0]
	return x509Summary{
		SPIFFEID: svid.ID.String(),
		Hint:     svid.Hint,
		Serial:   serialOf(leaf),
		Expires:  leaf.NotAfter.UTC().Format(time.RFC3339),
		Chain:    len(svid.Certificates),
	}
}

func serialOf(cert *x509.Certificate) string {
	return fmt.Sprintf("%X", cert.SerialNumber)
}

func checkJWT(ctx context.Context, client *workloadapi.Client, audience string, report *checkReport, fail func(string, ...any)) {
	svid, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: audience})
	if err != nil {
		fail("FetchJWTSVID: %v", err)
		return
	}
	summary := &jwtSummary{SPIFFEID: svid.ID.String(), Audience: svid.Audience, Expires: svid.Expiry.UTC().Format(time.RFC3339)}
	report.JWT = summary
	token := svid.Marshal()

	bundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		fail("FetchJWTBundles: %v", err)
	} else {
		summary.ValidatedLocally = validateLocally(token, bundles, audience, svid.ID.String(), fail)
		if _, err := jwtsvid.ParseAndValidate(token, bundles, []string{audience + "-other"}); err == nil {
			fail("jwtsvid.ParseAndValidate accepted the token for another audience")
		}
	}

	validated, err := client.ValidateJWTSVID(ctx, token, audience)
	switch {
	case err != nil:
		fail("ValidateJWTSVID: %v", err)
	case validated.ID != svid.ID:
		fail("ValidateJWTSVID: the agent says %s, the token was for %s", validated.ID, svid.ID)
	default:
		summary.ValidatedByAgent = true
	}
	if _, err := client.ValidateJWTSVID(ctx, token, audience+"-other"); err == nil {
		fail("ValidateJWTSVID accepted the token for another audience")
	} else {
		summary.OtherAudienceDeny = true
	}
}

func validateLocally(token string, bundles *jwtbundle.Set, audience, want string, fail func(string, ...any)) bool {
	parsed, err := jwtsvid.ParseAndValidate(token, bundles, []string{audience})
	if err != nil {
		fail("jwtsvid.ParseAndValidate: %v", err)
		return false
	}
	if parsed.ID.String() != want {
		fail("jwtsvid.ParseAndValidate: the token's subject is %s, not %s", parsed.ID, want)
		return false
	}
	return true
}

// rotationWatcher passes every X.509 context to the check waiting for a new serial.
type rotationWatcher struct {
	updates chan *workloadapi.X509Context
}

func (w rotationWatcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	select {
	case w.updates <- c:
	default: // the check takes only the latest it needs; never block go-spiffe's stream.
	}
}

func (w rotationWatcher) OnX509ContextWatchError(error) {}

func watchForRotation(client *workloadapi.Client, before x509Summary, limit time.Duration, fail func(string, ...any)) *rotationReport {
	report := &rotationReport{SPIFFEID: before.SPIFFEID, OldSerial: before.Serial}
	ctx, cancel := withTimeout(limit)
	defer cancel()
	watcher := rotationWatcher{updates: make(chan *workloadapi.X509Context, 1)}
	done := make(chan error, 1)
	go func() { done <- client.WatchX509Context(ctx, watcher) }()
	for {
		select {
		case update := <-watcher.updates:
			for _, svid := range update.SVIDs {
				if svid.ID.String() != before.SPIFFEID || serialOf(svid.Certificates[0]) == before.Serial {
					continue
				}
				report.NewSerial = serialOf(svid.Certificates[0])
				if _, _, err := x509svid.Verify(svid.Certificates, update.Bundles); err != nil {
					fail("x509svid.Verify of the rotated SVID: %v", err)
				} else {
					report.Verified = true
				}
				cancel()
				<-done
				return report
			}
		case <-ctx.Done():
			fail("no rotation of %s (serial %s) within %s", before.SPIFFEID, before.Serial, limit)
			<-done
			return report
		}
	}
}
