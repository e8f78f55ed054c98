package dev.parley

import java.io.IOException

/*
 * These live in dev.parley, not dev.parley.transport: an application meets them as the cause of
 * DisconnectReason.ConnectFailed after configuring ProxySettings, and dev.parley.transport is the opt-in API for
 * transport authors. They are IOExceptions and not ParleyExceptions: ParleyException is what Parley's own calls
 * throw (send, connect, ...), while these are connection failures, like the ConnectException they stand beside.
 * No message carries a credential: neither the Proxy-Authorization value nor a SOCKS5 password is ever kept here.
 */

/**
 * The proxy on the way to the server failed the connection attempt. The subclasses say how.
 *
 * @property proxyHost the proxy's host.
 * @property proxyPort the proxy's port.
 */
public sealed class ProxyException(
    public val proxyHost: String,
    public val proxyPort: Int,
    message: String,
) : IOException(message)

/**
 * The HTTP proxy refused to open the tunnel: it answered `CONNECT` with [status], which is neither 2xx nor a 407 that
 * could be answered. A 5xx usually means the proxy could not reach the server; a 403, that its rules forbid the
 * destination or port.
 *
 * @property status the HTTP status the proxy answered with.
 * @property reasonPhrase the reason phrase of the proxy's status line, possibly empty.
 */
public class ProxyRejectedException(
    public val status: Int,
    public val reasonPhrase: String,
    proxyHost: String,
    proxyPort: Int,
) : ProxyException(
    proxyHost,
    proxyPort,
    "the HTTP proxy ${hostPort(proxyHost, proxyPort)} refused the tunnel with HTTP $status" +
        (if (reasonPhrase.isNotEmpty()) " $reasonPhrase" else ""),
)

/**
 * The HTTP proxy demands credentials (HTTP 407) and none were available: no [ProxyAuthenticator] was configured, it
 * gave up (returned `null`), or the proxy kept refusing what it returned.
 *
 * @property challenges the proxy's `Proxy-Authenticate` values from its last 407.
 * @property attempts how many times credentials were sent, 0 when none ever were.
 */
public class ProxyAuthRequiredException(
    proxyHost: String,
    proxyPort: Int,
    public val challenges: List<String>,
    public val attempts: Int,
) : ProxyException(
    proxyHost,
    proxyPort,
    "the HTTP proxy ${hostPort(proxyHost, proxyPort)} requires authentication (HTTP 407" +
        (if (challenges.isEmpty()) "" else ", offering ${challenges.joinToString(" / ")}") + "); " +
        when (attempts) {
            0 -> "no credentials were available for it"
            1 -> "it refused the credentials given"
            else -> "it refused the credentials given $attempts times"
        },
)

/**
 * The SOCKS5 proxy accepted none of the authentication methods offered (RFC 1928 method `X'FF'`). When
 * [offeredUsernamePassword] is `false` the proxy most likely wants a username and password.
 *
 * @property offeredUsernamePassword whether username/password authentication (RFC 1929) was among the methods offered.
 */
public class SocksNoAcceptableMethodException(
    proxyHost: String,
    proxyPort: Int,
    public val offeredUsernamePassword: Boolean,
) : ProxyException(
    proxyHost,
    proxyPort,
    "the SOCKS5 proxy ${hostPort(proxyHost, proxyPort)} accepted none of the authentication methods offered (" +
        (
            if (offeredUsernamePassword) {
                "none, username/password"
            } else {
                "only 'none': it probably needs a username and password"
            }
            ) + ")",
)

/**
 * The SOCKS5 proxy refused the username and password (RFC 1929 status [status]), or it asked for them and none were
 * available.
 *
 * @property status the RFC 1929 status byte the proxy answered with, or -1 when no credentials were available.
 */
public class SocksAuthFailedException(
    proxyHost: String,
    proxyPort: Int,
    public val status: Int,
) : ProxyException(
    proxyHost,
    proxyPort,
    "the SOCKS5 proxy ${hostPort(proxyHost, proxyPort)} " +
        if (status < 0) {
            "asked for a username and password and none were available"
        } else {
            "refused the username and password (status $status)"
        },
)

/**
 * The SOCKS5 proxy would not connect to the server: it answered the `CONNECT` request with a non-zero reply code.
 *
 * @property replyCode the RFC 1928 reply code (1 to 255); [meaning] says what it stands for.
 */
public class SocksRejectedException(
    proxyHost: String,
    proxyPort: Int,
    public val replyCode: Int,
) : ProxyException(
    proxyHost,
    proxyPort,
    "the SOCKS5 proxy ${hostPort(proxyHost, proxyPort)} could not connect to the server: reply $replyCode, " +
        socksReplyMeaning(replyCode),
) {
    /** What [replyCode] means, in RFC 1928's words. */
    public val meaning: String get() = socksReplyMeaning(replyCode)
}

private fun socksReplyMeaning(code: Int): String = when (code) {
    1 -> "general SOCKS server failure"
    2 -> "connection not allowed by ruleset"
    3 -> "network unreachable"
    4 -> "host unreachable"
    5 -> "connection refused"
    6 -> "TTL expired"
    7 -> "command not supported"
    8 -> "address type not supported"
    else -> "unassigned reply code"
}
