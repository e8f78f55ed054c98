package dev.parley.internal.transport

import dev.parley.ProxyAuthRequiredException
import dev.parley.ProxyChallenge
import dev.parley.ProxyRejectedException
import dev.parley.SocksAuthFailedException
import dev.parley.SocksNoAcceptableMethodException
import dev.parley.SocksRejectedException
import dev.parley.hostPort
import dev.parley.internal.ParleyVersion
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import java.io.EOFException
import java.io.IOException
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ProtocolException
import java.net.UnknownHostException
import java.nio.ByteBuffer

/*
 * The bytes after the proxy's answer belong to whoever speaks next on the link (the TLS handshake, or the WebSocket
 * upgrade's response), so nothing here ever reads past the end of that answer: the HTTP response to CONNECT is read
 * one byte at a time (it has no length to read by, and a 200 answer is a few dozen bytes, so the cost is small), and
 * every SOCKS5 message is read by its exact length. No timeout is applied here: the caller's connect timeout covers
 * the whole attempt, tunnel included, and cancelling the caller closes the link.
 */

/**
 * Opens a tunnel to [target] through [route]'s proxy: connects to the proxy with [connect], runs `CONNECT` (HTTP) or
 * the SOCKS5 handshake, and returns the link positioned on the first byte that comes from [target]. After an HTTP 407
 * it asks the route's authenticator and tries again on a new connection (proxies often close after a 407), at most
 * [MAX_AUTH_ATTEMPTS] times.
 *
 * On any failure every link it opened is closed. Failures: [ProxyRejectedException], [ProxyAuthRequiredException],
 * [SocksNoAcceptableMethodException], [SocksAuthFailedException], [SocksRejectedException]; [ProtocolException] for
 * an answer that is not HTTP or SOCKS5, or is too long; [EOFException] when the proxy closes the connection while
 * answering; whatever [connect] throws when the proxy cannot be reached.
 */
internal suspend fun openTunnel(
    route: ProxyRoute.Proxied,
    target: TunnelTarget,
    connect: suspend (InetSocketAddress) -> ByteLink,
): ByteLink = when (route) {
    is ProxyRoute.HttpConnect -> httpTunnel(route, target, connect)
    is ProxyRoute.Socks5 -> socksTunnel(route, target, connect)
}

/** How many times credentials are sent to an HTTP proxy before giving up, within one connection attempt. */
internal const val MAX_AUTH_ATTEMPTS = 3

/** The longest CONNECT response head accepted, in bytes. */
internal const val MAX_PROXY_HEAD_BYTES = 16 * 1024

/** The most header lines accepted in a CONNECT response. */
internal const val MAX_PROXY_HEADER_LINES = 100

private suspend fun connectTo(route: ProxyRoute.Proxied, connect: suspend (InetSocketAddress) -> ByteLink): ByteLink =
    try {
        connect(route.address)
    } catch (e: IOException) {
        route.connectFailed(e)
        throw e
    }

/** Runs [block] on [link], closing the link if it fails or is cancelled; the link is the block's to return. */
private inline fun <T> closingOnFailure(link: ByteLink, block: () -> T): T = try {
    block()
} catch (e: Throwable) {
    link.close()
    throw e
}

// ---- HTTP CONNECT ----

private suspend fun httpTunnel(
    route: ProxyRoute.HttpConnect,
    target: TunnelTarget,
    connect: suspend (InetSocketAddress) -> ByteLink,
): ByteLink {
    var authorization: String? = null
    var sent = 0
    while (true) {
        val link = connectTo(route, connect)
        val head = closingOnFailure(link) {
            link.write(ByteBuffer.wrap(connectRequest(target, authorization)))
            readProxyHead(link, route)
        }
        if (head.status in 200..299) return link
        // Any other answer ends this connection: its body (if any) is of no use, and reading it could block.
        link.close()
        // tinyproxy answers credentials it refuses with 401 instead of another 407, so a 401 after credentials were
        // sent is a refusal of them, not a reason unrelated to authentication.
        if (head.status == HTTP_UNAUTHORIZED && sent > 0) {
            throw ProxyAuthRequiredException(route.host, route.port, head.values("proxy-authenticate"), sent)
        }
        if (head.status != HTTP_PROXY_AUTH_REQUIRED) {
            throw ProxyRejectedException(head.status, head.reason, route.host, route.port)
        }
        val challenges = head.values("proxy-authenticate")
        val authenticator = route.authenticator
        if (authenticator == null || sent >= MAX_AUTH_ATTEMPTS) {
            throw ProxyAuthRequiredException(route.host, route.port, challenges, sent)
        }
        val challenge = ProxyChallenge(route.host, route.port, target.host, target.port, challenges, sent + 1)
        authorization = askAuthenticator { authenticator.authorize(challenge) }
            ?: throw ProxyAuthRequiredException(route.host, route.port, challenges, sent)
        // A line break would let the value smuggle headers into the request; the value itself stays out of the
        // message because it carries the credentials.
        if (authorization.any { it == '\r' || it == '\n' }) {
            throw IOException(
                "the ProxyAuthenticator for ${hostPort(route.host, route.port)} answered with a line break",
            )
        }
        sent++
    }
}

/**
 * Runs an application callback that may block (a credential store, a prompt) off the connecting coroutine's
 * dispatcher; a failure in it fails the attempt as an IOException rather than escaping as some other exception.
 */
private suspend fun <T> askAuthenticator(block: () -> T): T = try {
    runInterruptible(Dispatchers.IO) { block() }
} catch (e: CancellationException) {
    throw e
} catch (e: IOException) {
    throw e
} catch (e: Exception) {
    throw IOException("the proxy authenticator failed: $e", e)
}

private fun connectRequest(target: TunnelTarget, authorization: String?): ByteArray {
    val request = StringBuilder()
        .append("CONNECT ").append(target.authority).append(" HTTP/1.1\r\n")
        .append("Host: ").append(target.authority).append("\r\n")
        .append("User-Agent: ").append(ParleyVersion.userAgent).append("\r\n")
    if (authorization != null) request.append("Proxy-Authorization: ").append(authorization).append("\r\n")
    request.append("\r\n")
    return request.toString().toByteArray(Charsets.ISO_8859_1)
}

private class ProxyHead(val status: Int, val reason: String, val headers: List<Pair<String, String>>) {
    fun values(name: String): List<String> =
        headers.filter { it.first.equals(name, ignoreCase = true) }.map { it.second }
}

/** Reads the proxy's response head, exactly up to and including its blank line, and not one byte more. */
private suspend fun readProxyHead(link: ByteLink, route: ProxyRoute.Proxied): ProxyHead {
    val proxy = hostPort(route.host, route.port)
    val one = ByteBuffer.allocate(1)
    val line = StringBuilder()
    var total = 0
    var status: Int? = null
    var reason = ""
    val headers = mutableListOf<Pair<String, String>>()
    while (true) {
        one.clearForWriting()
        val n = link.read(one)
        if (n < 0) {
            throw EOFException("the HTTP proxy $proxy closed the connection before it finished answering CONNECT")
        }
        if (n == 0) continue
        if (++total > MAX_PROXY_HEAD_BYTES) {
            throw ProtocolException("the HTTP proxy $proxy answered CONNECT with more than $MAX_PROXY_HEAD_BYTES bytes")
        }
        val b = one.get(0).toInt() and 0xff
        // Checked byte by byte so that something that is not HTTP at all fails at once, not after 16 KiB or never.
        if (status == null && line.length < STATUS_PREFIX.length && b != STATUS_PREFIX[line.length].code) {
            throw ProtocolException("the HTTP proxy $proxy answered CONNECT with something that is not HTTP")
        }
        if (b != '\n'.code) {
            if ((b < 0x20 && b != '\t'.code && b != '\r'.code) || b == 0x7f) {
                throw ProtocolException(
                    "the HTTP proxy $proxy answered CONNECT with a control character (0x%02x)".format(b),
                )
            }
            line.append(b.toChar())
            continue
        }
        val text = line.removeSuffix("\r").toString()
        line.setLength(0)
        if ('\r' in text) throw ProtocolException("the HTTP proxy $proxy answered CONNECT with a stray carriage return")
        when {
            status == null -> {
                val match = STATUS_LINE.matchEntire(text)
                    ?: throw ProtocolException("the HTTP proxy $proxy answered CONNECT with a malformed status line")
                status = match.groupValues[1].toInt()
                reason = match.groupValues[2].trim()
            }

            text.isEmpty() -> return ProxyHead(status, reason, headers)

            text[0] == ' ' || text[0] == '\t' -> {
                // An obsolete folded continuation: it belongs to the previous header's value.
                val last = headers.removeLastOrNull()
                    ?: throw ProtocolException("the HTTP proxy $proxy answered CONNECT with a folded first header")
                headers += last.first to (last.second + " " + text.trim())
            }

            else -> {
                if (headers.size >= MAX_PROXY_HEADER_LINES) {
                    throw ProtocolException(
                        "the HTTP proxy $proxy answered CONNECT with more than $MAX_PROXY_HEADER_LINES header lines",
                    )
                }
                val colon = text.indexOf(':')
                if (colon <=
                    0
                ) {
                    throw ProtocolException("the HTTP proxy $proxy answered CONNECT with a malformed header")
                }
                headers += text.substring(0, colon).trim() to text.substring(colon + 1).trim()
            }
        }
    }
}

private const val HTTP_UNAUTHORIZED = 401
private const val HTTP_PROXY_AUTH_REQUIRED = 407
private const val STATUS_PREFIX = "HTTP/1."
private val STATUS_LINE = Regex("""HTTP/1\.\d (\d{3})(?: (.*))?""")

// ---- SOCKS5 (RFC 1928, RFC 1929) ----

private suspend fun socksTunnel(
    route: ProxyRoute.Socks5,
    target: TunnelTarget,
    connect: suspend (InetSocketAddress) -> ByteLink,
): ByteLink {
    val proxy = hostPort(route.host, route.port)
    // Encoded before connecting: a target SOCKS5 cannot name should not cost a connection.
    val address = socksAddress(target, proxy)
    val link = connectTo(route, connect)
    return closingOnFailure(link) {
        val methods =
            if (route.offerUsernamePassword) byteArrayOf(METHOD_NONE, METHOD_PASSWORD) else byteArrayOf(METHOD_NONE)
        link.write(ByteBuffer.wrap(byteArrayOf(SOCKS_VERSION, methods.size.toByte()) + methods))
        val choice = readExactly(link, 2, proxy)
        if (choice[0] != SOCKS_VERSION) {
            throw ProtocolException(
                "$proxy is not a SOCKS5 proxy: it answered with version byte ${choice[0].toUByte()}",
            )
        }
        when (val method = choice[1]) {
            METHOD_NONE -> Unit

            METHOD_PASSWORD -> if (route.offerUsernamePassword) {
                authenticate(link, route, proxy)
            } else {
                throw ProtocolException("the SOCKS5 proxy $proxy chose username/password, which was not offered")
            }

            METHOD_NO_ACCEPTABLE -> throw SocksNoAcceptableMethodException(
                route.host,
                route.port,
                route.offerUsernamePassword,
            )

            else -> throw ProtocolException("the SOCKS5 proxy $proxy chose method ${method.toUByte()}, not offered")
        }
        val request = byteArrayOf(SOCKS_VERSION, COMMAND_CONNECT, 0) + address +
            byteArrayOf((target.port ushr 8).toByte(), target.port.toByte())
        link.write(ByteBuffer.wrap(request))
        val reply = readExactly(link, 4, proxy)
        if (reply[0] != SOCKS_VERSION) {
            throw ProtocolException("the SOCKS5 proxy $proxy replied with version byte ${reply[0].toUByte()}")
        }
        val code = reply[1].toInt() and 0xff
        if (code != 0) throw SocksRejectedException(route.host, route.port, code)
        // The bound address is of no use here, but it must be consumed exactly: the target's bytes follow it.
        val boundLength = when (reply[3]) {
            ATYP_IPV4 -> 4

            ATYP_IPV6 -> 16

            ATYP_DOMAIN -> readExactly(link, 1, proxy)[0].toInt() and 0xff

            else -> throw ProtocolException(
                "the SOCKS5 proxy $proxy replied with an unknown address type ${reply[3].toUByte()}",
            )
        }
        readExactly(link, boundLength + 2, proxy)
        link
    }
}

private suspend fun authenticate(link: ByteLink, route: ProxyRoute.Socks5, proxy: String) {
    val credentials = askAuthenticator { route.credentials() }
        ?: throw SocksAuthFailedException(route.host, route.port, -1)
    val user = credentials.userName.toByteArray(Charsets.UTF_8)
    val password = String(credentials.password).toByteArray(Charsets.UTF_8)
    if (user.size !in 1..MAX_FIELD || password.size > MAX_FIELD) {
        throw IOException("the SOCKS5 credentials for $proxy are too long (at most $MAX_FIELD bytes each in UTF-8)")
    }
    val message = byteArrayOf(AUTH_VERSION, user.size.toByte()) + user + byteArrayOf(password.size.toByte()) + password
    try {
        link.write(ByteBuffer.wrap(message))
    } finally {
        message.fill(0)
        password.fill(0)
    }
    // RFC 1929 says the version byte is 1; some servers answer 5. Only the status matters.
    val status = readExactly(link, 2, proxy)[1].toInt() and 0xff
    if (status != 0) throw SocksAuthFailedException(route.host, route.port, status)
}

/** The target as SOCKS5 names it: an IP literal as itself, anything else as a name, so the proxy looks it up. */
private fun socksAddress(target: TunnelTarget, proxy: String): ByteArray {
    val host = target.host
    if (IPV4_LITERAL.matches(host)) return byteArrayOf(ATYP_IPV4) + host.split('.').map { it.toInt().toByte() }
    if (':' in host) {
        // In brackets, InetAddress insists on an IPv6 literal and never falls back to a DNS lookup.
        val address =
            try {
                InetAddress.getByName("[$host]")
            } catch (e: UnknownHostException) {
                throw IOException("the target host $host is not a valid IPv6 address", e)
            }
        return byteArrayOf(ATYP_IPV6) + address.address
    }
    val name = host.toByteArray(Charsets.UTF_8)
    if (name.size !in 1..MAX_FIELD) {
        throw IOException("the target host name is too long for the SOCKS5 proxy $proxy (${name.size} bytes)")
    }
    return byteArrayOf(ATYP_DOMAIN, name.size.toByte()) + name
}

/** Reads exactly [count] bytes: the buffer has room for no more, so nothing past them is consumed. */
private suspend fun readExactly(link: ByteLink, count: Int, proxy: String): ByteArray {
    val buffer = ByteBuffer.allocate(count)
    while (buffer.hasRemaining()) {
        if (link.read(buffer) < 0) {
            throw EOFException("the SOCKS5 proxy $proxy closed the connection in the middle of the handshake")
        }
    }
    return buffer.array()
}

private const val SOCKS_VERSION: Byte = 5
private const val AUTH_VERSION: Byte = 1
private const val METHOD_NONE: Byte = 0
private const val METHOD_PASSWORD: Byte = 2
private const val METHOD_NO_ACCEPTABLE: Byte = -1
private const val COMMAND_CONNECT: Byte = 1
private const val ATYP_IPV4: Byte = 1
private const val ATYP_DOMAIN: Byte = 3
private const val ATYP_IPV6: Byte = 4
private const val MAX_FIELD = 255
private val IPV4_LITERAL = Regex("""(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)""")
