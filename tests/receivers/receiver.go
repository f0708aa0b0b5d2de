// A ferry webhook receiver: checks both signature schemes, then answers.
// Run: FERRY_WEBHOOK_SECRET=whsec_... PORT=8000 go run receiver.go
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var secret = os.Getenv("FERRY_WEBHOOK_SECRET")

const tolerance = 300 // seconds; an older webhook-timestamp is refused (replays)

// During a secret rotation a header carries one value per secret.
func anyEqual(header, expected string) bool {
	ok := false
	for _, v := range strings.Fields(header) {
		ok = hmac.Equal([]byte(v), []byte(expected)) || ok
	}
	return ok
}

// X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the raw body>
func verifyFerry(header string, body []byte) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return anyEqual(header, "sha256="+hex.EncodeToString(m.Sum(nil)))
}

// Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
func verifyStandard(id, timestamp, header string, body []byte) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > tolerance*time.Second {
		return false
	}
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		if key, err = base64.StdEncoding.DecodeString(secret[6:]); err != nil {
			return false
		}
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", id, timestamp)
	m.Write(body)
	return anyEqual(header, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20)) // raw bytes, not re-encoded
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ferryOK := verifyFerry(r.Header.Get("X-Ferry-Signature"), body)
		standardOK := verifyStandard(r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
			r.Header.Get("webhook-signature"), body)
		line, _ := json.Marshal(struct {
			DeliveryID string `json:"delivery_id"`
			Event      string `json:"event"`
			Ferry      bool   `json:"ferry_signature"`
			Standard   bool   `json:"standard_signature"`
		}{r.Header.Get("X-Ferry-Delivery"), r.Header.Get("X-Ferry-Event"), ferryOK, standardOK})
		fmt.Println(string(line))
		// Deliveries are at least once: deduplicate on X-Ferry-Delivery before acting.
		if ferryOK && standardOK {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	host, port := os.Getenv("HOST"), os.Getenv("PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "8000"
	}
	log.Fatal(http.ListenAndServe(host+":"+port, nil))
}
