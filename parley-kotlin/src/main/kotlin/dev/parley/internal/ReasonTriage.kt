package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.ProxyAuthRequiredException
import dev.parley.ProxyRejectedException
import dev.parley.Recovery
import dev.parley.SocksAuthFailedException
import dev.parley.SocksNoAcceptableMethodException
import java.io.EOFException
import java.net.ConnectException
import java.net.UnknownHostException
import java.security.cert.CertificateException
import java.time.Instant
import java.time.ZonedDateTime
import java.time.format.DateTimeFormatter
import java.time.format.DateTimeParseException
import javax.net.ssl.SSLPeerUnverifiedException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Parley's own view of every disconnect: whether another attempt can help, and what happened in one plain line.
 * DisconnectReason.recovery and explain() answer from here, so the table lives in one place a reader can check.
 */

/**
 * The built-in classification. The rule of thumb: a reason is fatal only when the same request is bound to fail the
 * same way, because a credential, a path or a certificate has to change first.
 */
internal fun defaultRecovery(reason: DisconnectReason): Recovery = when (reason) {
    is DisconnectReason.HandshakeRejected -> when (reason.status) {
        // Request timeout, rate limit and every server-side error: the server may well answer differently later.
        408, 429 -> Recovery.Recoverable(reason.retryAfter)

        in 500..599 -> Recovery.Recoverable(reason.retryAfter)

        // 401, 403, 404 and every other answer (a redirect, a 200 from a plain web page, a 101 that breaks RFC 6455)
        // are the same for the same request.
        else -> Recovery.Fatal
    }

    is DisconnectReason.ConnectFailed -> if (isFatalConnectFailure(reason.cause)) Recovery.Fatal else RECOVERABLE

    // The server talked to us, or the link failed, or our own code chose to close: all worth another try, under
    // backoff. A peer that breaks the protocol may be a restarting or a buggy server; maxRetries bounds the second.
    is DisconnectReason.ClosedLocally, is DisconnectReason.ClosedByPeer, is DisconnectReason.ByHandler,
    is DisconnectReason.ConnectionInfoFailed, is DisconnectReason.ConnectTimedOut,
    is DisconnectReason.ProtocolViolation, is DisconnectReason.MessageTooBig, is DisconnectReason.HeartbeatTimedOut,
    is DisconnectReason.WriteTimedOut, is DisconnectReason.TransportFailed,
    -> RECOVERABLE
}

private val RECOVERABLE = Recovery.Recoverable()

/**
 * Certificates that do not verify and proxies that refuse our credentials: like OkHttp, which does not retry a
 * handshake whose certificate failed, we do not either. Other TLS failures (an alert, a reset mid-handshake) and every
 * socket error may pass.
 */
private fun isFatalConnectFailure(cause: Throwable): Boolean = causes(cause).any {
    it is CertificateException ||
        it is SSLPeerUnverifiedException ||
        it is ProxyAuthRequiredException ||
        it is SocksAuthFailedException ||
        it is SocksNoAcceptableMethodException ||
        (it is ProxyRejectedException && it.status in 400..499 && it.status != 408 && it.status != 429)
}

/** [e] and its causes, outermost first; a cause that is its own cause, or a chain past 16, ends the walk. */
internal fun causes(e: Throwable): Sequence<Throwable> = generateSequence(e) {
    it.cause.takeIf { c -> c !== it }
}.take(16)

/** One line, for people: what happened and, where it helps, what to look at. */
internal fun explanation(reason: DisconnectReason): String = when (reason) {
    is DisconnectReason.ClosedLocally ->
        "this client closed the connection with ${closeCode(reason.code)}" +
            if (reason.acknowledged) "" else "; the server did not answer the close in time"

    is DisconnectReason.ClosedByPeer ->
        "the server closed the connection with ${closeCode(reason.code)}" +
            if (reason.reason.isEmpty()) "" else ": \"${reason.reason}\""

    is DisconnectReason.ByHandler ->
        "the handler closed the connection (${reason.reason}) with ${closeCode(reason.closeCode)}"

    is DisconnectReason.ConnectFailed -> connectFailure(reason.cause)

    is DisconnectReason.ConnectionInfoFailed ->
        if (reason.cause is IllegalArgumentException) {
            "the connection info provider gave info that is not valid: ${reason.cause.message}"
        } else {
            "the connection info provider failed: ${describe(reason.cause)}"
        }

    is DisconnectReason.HandshakeRejected -> rejection(reason)

    is DisconnectReason.ConnectTimedOut ->
        "connecting (DNS, TCP, TLS and the upgrade) took longer than connectTimeout (${reason.timeout})"

    is DisconnectReason.ProtocolViolation ->
        "the server broke the WebSocket protocol (${reason.message}); closed with ${closeCode(reason.closeCode)}"

    is DisconnectReason.MessageTooBig ->
        "the server sent a message larger than maxFrameSize (${reason.limit} bytes); closed with 1009"

    is DisconnectReason.HeartbeatTimedOut ->
        "nothing arrived within ${reason.pongTimeout} of a ping: the connection was presumed dead and dropped"

    is DisconnectReason.WriteTimedOut ->
        "nothing could be written for ${reason.timeout}: the server stopped reading or the network stopped " +
            "carrying; the connection was dropped"

    is DisconnectReason.TransportFailed ->
        if (reason.cause is EOFException) {
            "the server dropped the connection without a close frame"
        } else {
            "the connection broke: ${describe(reason.cause)}"
        }
}

private fun connectFailure(cause: Throwable): String {
    val chain = causes(cause).toList()
    return when {
        chain.any { it is CertificateException || it is SSLPeerUnverifiedException } ->
            "the server's TLS certificate was not accepted (untrusted, expired or for another host): " +
                describe(cause)

        chain.any { it is UnknownHostException } -> "the host name could not be resolved: ${describe(cause)}"

        // ProxyException messages already name the proxy and what it answered.
        chain.any { it is dev.parley.ProxyException } ->
            chain.first { it is dev.parley.ProxyException }.message.orEmpty()

        chain.any { it is ConnectException } ->
            "no server accepted the TCP connection (nothing listening, or a firewall): ${describe(cause)}"

        else -> "could not connect: ${describe(cause)}"
    }
}

private fun rejection(reason: DisconnectReason.HandshakeRejected): String {
    val status = reason.status
    val what = when (status) {
        101 -> return "the server accepted the upgrade but its answer breaks RFC 6455: ${reason.message}"
        401 -> "the server did not accept the credentials (HTTP 401 Unauthorized)"
        403 -> "the server refused access (HTTP 403 Forbidden)"
        404 -> "there is no WebSocket endpoint at this URL (HTTP 404 Not Found)"
        408 -> "the server timed out waiting for the upgrade request (HTTP 408)"
        429 -> "the server is limiting connection attempts (HTTP 429 Too Many Requests)"
        503 -> "the server is unavailable (HTTP 503)"
        in 300..399 -> "the server redirects (HTTP $status), which a WebSocket upgrade does not follow"
        in 500..599 -> "the server failed (HTTP $status)"
        else -> "the server refused the upgrade with HTTP $status"
    }
    val retryAfter = reason.retryAfter
    return if (retryAfter != null) "$what; it asks to retry after $retryAfter" else what
}

private fun describe(e: Throwable): String = e.message?.takeIf { it.isNotBlank() } ?: e.javaClass.simpleName

private fun closeCode(code: Int): String {
    val name = when (code) {
        CloseCodes.NORMAL -> "normal"
        CloseCodes.GOING_AWAY -> "going away"
        CloseCodes.PROTOCOL_ERROR -> "protocol error"
        CloseCodes.UNSUPPORTED_DATA -> "unsupported data"
        CloseCodes.NO_STATUS -> "no status"
        CloseCodes.INVALID_PAYLOAD -> "invalid payload"
        CloseCodes.POLICY_VIOLATION -> "policy violation"
        CloseCodes.MESSAGE_TOO_BIG -> "message too big"
        CloseCodes.INTERNAL_ERROR -> "internal error"
        1012 -> "service restart"
        1013 -> "try again later"
        else -> null
    }
    return if (name == null) "code $code" else "code $code ($name)"
}

/** The longest `Retry-After` honoured: a server (or a typo) asking for days is not obeyed past an hour. */
internal val RETRY_AFTER_LIMIT: Duration = 1.hours

/**
 * The `Retry-After` of an HTTP response ([headers] with lower-case names), as a delay: delta-seconds, or an HTTP-date
 * taken relative to the response's own `Date` (so a skewed local clock does not matter), else to [now]. `null` when
 * absent or unreadable; at most [RETRY_AFTER_LIMIT].
 */
internal fun parseRetryAfter(headers: Map<String, List<String>>, now: () -> Instant = Instant::now): Duration? {
    val value = headers["retry-after"]?.firstOrNull()?.trim() ?: return null
    if (value.isNotEmpty() && value.all { it in '0'..'9' }) {
        // More digits than an hour needs is simply "long": no overflow to guard.
        return if (value.length > 6) RETRY_AFTER_LIMIT else value.toLong().seconds.coerceAtMost(RETRY_AFTER_LIMIT)
    }
    val at = httpDate(value) ?: return null
    val reference = headers["date"]?.firstOrNull()?.let(::httpDate) ?: now()
    val millis = at.toEpochMilli() - reference.toEpochMilli()
    return millis.coerceAtLeast(0).milliseconds.coerceAtMost(RETRY_AFTER_LIMIT)
}

/** An IMF-fixdate such as `Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §5.6.7), or `null`. */
private fun httpDate(value: String): Instant? = try {
    ZonedDateTime.parse(value.trim(), DateTimeFormatter.RFC_1123_DATE_TIME).toInstant()
} catch (e: DateTimeParseException) {
    null
}
