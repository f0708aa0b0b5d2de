<?php
// A ferry webhook receiver: checks both signature schemes, then answers.
// Run: FERRY_WEBHOOK_SECRET=whsec_... php -S 127.0.0.1:8000 receiver.php

const TOLERANCE = 300; // seconds; an older webhook-timestamp is refused (replays)

// During a secret rotation a header carries one value per secret.
function any_equal(string $header, string $expected): bool {
    $ok = false;
    foreach (explode(' ', $header) as $v) {
        $ok = hash_equals($expected, $v) || $ok;
    }
    return $ok;
}

// X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the raw body>
function verify_ferry(string $secret, string $header, string $body): bool {
    return any_equal($header, 'sha256=' . hash_hmac('sha256', $body, $secret));
}

// Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
function verify_standard(string $secret, string $id, string $ts, string $header, string $body): bool {
    if (!ctype_digit($ts) || abs(time() - (int)$ts) > TOLERANCE) {
        return false;
    }
    $key = str_starts_with($secret, 'whsec_') ? base64_decode(substr($secret, 6)) : $secret;
    $mac = base64_encode(hash_hmac('sha256', "$id.$ts.$body", $key, true));
    return any_equal($header, "v1,$mac");
}

$secret = getenv('FERRY_WEBHOOK_SECRET');
$body = file_get_contents('php://input'); // raw bytes, not re-encoded
$h = fn(string $name): string => $_SERVER['HTTP_' . strtoupper(str_replace('-', '_', $name))] ?? '';
$ferry_ok = verify_ferry($secret, $h('X-Ferry-Signature'), $body);
$standard_ok = verify_standard($secret, $h('webhook-id'), $h('webhook-timestamp'),
                               $h('webhook-signature'), $body);
file_put_contents('php://stdout', json_encode([
    'delivery_id' => $h('X-Ferry-Delivery'), 'event' => $h('X-Ferry-Event'),
    'ferry_signature' => $ferry_ok, 'standard_signature' => $standard_ok,
]) . "\n");
// Deliveries are at least once: deduplicate on X-Ferry-Delivery before acting.
http_response_code($ferry_ok && $standard_ok ? 200 : 401);
