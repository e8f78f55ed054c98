package dev.parley.internal

import dev.parley.DisconnectReason
import dev.parley.ProxyAuthRequiredException
import dev.parley.ProxyRejectedException
import dev.parley.Recovery
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.io.EOFException
import java.net.ConnectException
import java.net.UnknownHostException
import java.security.cert.CertificateException
import java.time.Instant
import javax.net.ssl.SSLHandshakeException
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.seconds

/*
 * Parley's own verdict on each disconnect (recoverable or fatal) and its one-line explanation, case by case; and the
 * Retry-After reading that feeds the next delay. Real servers show the same through the client in RecoverySpec.
 */
class ReasonTriageSpec :
    FunSpec({
        fun rejected(status: Int, vararg headers: Pair<String, String>) =
            DisconnectReason.HandshakeRejected(status, headers.associate { (k, v) -> k to listOf(v) }, "HTTP $status")

        fun failed(cause: Throwable) = DisconnectReason.ConnectFailed(cause)

        context("fatal: the same request is bound to fail the same way") {
            listOf(400, 401, 403, 404, 410, 426, 301, 302, 200, 101).forEach { status ->
                test("an upgrade refused with HTTP $status") {
                    rejected(status).recovery shouldBe Recovery.Fatal
                }
            }
            test("a server certificate that does not verify (the JDK wraps a CertificateException)") {
                val untrusted = SSLHandshakeException("PKIX path building failed").apply {
                    initCause(CertificateException("unable to find valid certification path"))
                }
                failed(untrusted).recovery shouldBe Recovery.Fatal
                failed(untrusted).explain() shouldContain "certificate was not accepted"
            }
            test("a proxy that refuses our credentials, or forbids the destination") {
                failed(ProxyAuthRequiredException("proxy", 3128, listOf("Basic"), 1)).recovery shouldBe Recovery.Fatal
                failed(ProxyRejectedException(403, "Forbidden", "proxy", 3128)).recovery shouldBe Recovery.Fatal
            }
        }

        context("recoverable: another attempt may succeed") {
            listOf(408, 429, 500, 502, 503, 504).forEach { status ->
                test("an upgrade refused with HTTP $status") {
                    rejected(status).recovery.shouldBeInstanceOf<Recovery.Recoverable>()
                }
            }
            test("socket, DNS and proxy-side failures") {
                failed(ConnectException("Connection refused")).recovery shouldBe Recovery.Recoverable()
                failed(UnknownHostException("nowhere.invalid")).recovery shouldBe Recovery.Recoverable()
                failed(ProxyRejectedException(502, "Bad Gateway", "proxy", 3128)).recovery shouldBe
                    Recovery.Recoverable()
                failed(SSLHandshakeException("Remote host terminated the handshake")).recovery shouldBe
                    Recovery.Recoverable()
            }
            test("closes, drops, timeouts and protocol violations") {
                listOf(
                    DisconnectReason.ClosedByPeer(1008, "policy"),
                    DisconnectReason.ClosedLocally(1000, "", acknowledged = true),
                    DisconnectReason.TransportFailed(EOFException()),
                    DisconnectReason.ConnectTimedOut(10.seconds),
                    DisconnectReason.HeartbeatTimedOut(5.seconds),
                    DisconnectReason.WriteTimedOut(30.seconds),
                    DisconnectReason.ProtocolViolation(1002, "masked frame"),
                    DisconnectReason.MessageTooBig(1024),
                    DisconnectReason.ConnectionInfoFailed(IllegalStateException("token service down")),
                ).forEach { it.recovery shouldBe Recovery.Recoverable() }
            }
        }

        context("explain() says what happened in one line") {
            test("each kind of reason names its cause") {
                rejected(401).explain() shouldBe "the server did not accept the credentials (HTTP 401 Unauthorized)"
                rejected(404).explain() shouldContain "no WebSocket endpoint"
                DisconnectReason.ClosedByPeer(1001, "restarting").explain() shouldBe
                    "the server closed the connection with code 1001 (going away): \"restarting\""
                DisconnectReason.TransportFailed(EOFException()).explain() shouldBe
                    "the server dropped the connection without a close frame"
                failed(ConnectException("Connection refused")).explain() shouldContain "no server accepted the TCP"
                failed(UnknownHostException("nowhere.invalid")).explain() shouldContain "could not be resolved"
                DisconnectReason.ConnectTimedOut(10.seconds).explain() shouldContain "connectTimeout (10s)"
                DisconnectReason.ConnectionInfoFailed(IllegalArgumentException("url must be ws:// or wss://"))
                    .explain() shouldContain "not valid: url must be"
            }
            test("a Retry-After is part of the explanation, and nothing spans two lines") {
                rejected(429, "retry-after" to "30").explain() shouldBe
                    "the server is limiting connection attempts (HTTP 429 Too Many Requests); it asks to retry after 30s"
                listOf(
                    rejected(503),
                    DisconnectReason.ClosedLocally(4000, "bye", acknowledged = false),
                    DisconnectReason.ByHandler("done", 1000, acknowledged = true),
                    DisconnectReason.ProtocolViolation(1007, "not UTF-8"),
                ).forEach { it.explain() shouldNotContain "\n" }
            }
        }

        context("Retry-After") {
            val date = "Wed, 02 Dec 2026 10:00:00 GMT"
            fun retryAfter(vararg headers: Pair<String, String>, now: Instant = Instant.EPOCH) =
                parseRetryAfter(headers.associate { (k, v) -> k to listOf(v) }) { now }

            test("delta-seconds") {
                retryAfter("retry-after" to "120") shouldBe 120.seconds
                retryAfter("retry-after" to " 0 ") shouldBe 0.seconds
            }
            test("an HTTP-date is read against the response's own Date, so the local clock does not matter") {
                retryAfter("retry-after" to "Wed, 02 Dec 2026 10:00:45 GMT", "date" to date) shouldBe 45.seconds
                // A date already past means "now".
                retryAfter("retry-after" to "Wed, 02 Dec 2026 09:00:00 GMT", "date" to date) shouldBe 0.seconds
            }
            test("without a Date header, an HTTP-date is read against the local clock") {
                retryAfter(
                    "retry-after" to "Wed, 02 Dec 2026 10:00:10 GMT",
                    now = Instant.parse("2026-12-02T10:00:00Z"),
                )
                    .shouldBe(10.seconds)
            }
            test("more than an hour is an hour, and anything unreadable is ignored") {
                retryAfter("retry-after" to "7200") shouldBe 1.hours
                retryAfter("retry-after" to "99999999999999999999") shouldBe 1.hours
                retryAfter("retry-after" to "-5") shouldBe null
                retryAfter("retry-after" to "soon") shouldBe null
                retryAfter("retry-after" to "") shouldBe null
                retryAfter() shouldBe null
            }
            test("a 503's Retry-After becomes the earliest time of the next attempt") {
                rejected(503, "retry-after" to "5").recovery shouldBe Recovery.Recoverable(retryAfter = 5.seconds)
            }
        }
    })
