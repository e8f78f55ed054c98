package dev.parley.internal.transport

import dev.parley.ProxyAuthenticator
import dev.parley.ProxySettings
import dev.parley.hostPort
import java.io.IOException
import java.net.Authenticator
import java.net.InetSocketAddress
import java.net.PasswordAuthentication
import java.net.Proxy
import java.net.ProxySelector
import java.net.URI
import java.net.URISyntaxException

/**
 * Where a connection attempt is going: [host] (a name or an IP literal, IPv6 without brackets) and [port], over TLS
 * when [secure] (`wss://`).
 */
internal class TunnelTarget(val host: String, val port: Int, val secure: Boolean) {
    /** `host:port` as CONNECT names it, an IPv6 literal in brackets. */
    val authority: String get() = hostPort(host, port)

    override fun toString(): String = authority
}

/** How to reach a [TunnelTarget]: straight, or through one proxy. */
internal sealed class ProxyRoute {
    /** No proxy: the transport connects to the target itself (every address of it, in order). */
    object Direct : ProxyRoute() {
        override fun toString(): String = "direct"
    }

    /**
     * Through the proxy at [address], which may be unresolved: the transport's connect function resolves it.
     * [connectFailed] is told when the proxy itself cannot be reached (a [ProxySelector] wants to know).
     */
    sealed class Proxied(val address: InetSocketAddress, val connectFailed: (IOException) -> Unit) : ProxyRoute() {
        /** The proxy's host as configured, without a reverse lookup. */
        val host: String get() = address.hostString

        /** The proxy's port. */
        val port: Int get() = address.port
    }

    /** An HTTP proxy, used with `CONNECT`; a 407 is answered by [authenticator], or ends the attempt when null. */
    class HttpConnect(
        address: InetSocketAddress,
        val authenticator: ProxyAuthenticator?,
        connectFailed: (IOException) -> Unit = {},
    ) : Proxied(address, connectFailed) {
        override fun toString(): String = "HTTP proxy ${hostPort(host, port)}"
    }

    /**
     * A SOCKS5 proxy. Username/password authentication is offered when [offerUsernamePassword]; [credentials] is
     * asked only if the proxy picks it, and may block (it may consult [Authenticator]).
     */
    class Socks5(
        address: InetSocketAddress,
        val offerUsernamePassword: Boolean,
        val credentials: () -> PasswordAuthentication?,
        connectFailed: (IOException) -> Unit = {},
    ) : Proxied(address, connectFailed) {
        override fun toString(): String = "SOCKS5 proxy ${hostPort(host, port)}"
    }
}

/**
 * The route to [target] under these settings. For a selector, the first proxy it lists is used (as the JDK's
 * `HttpClient` does), asked about `http://host:port` for `ws://` and `https://host:port` for `wss://`; a selector
 * that is missing, lists nothing, throws, or lists DIRECT first means a direct connection.
 */
internal fun ProxySettings.routeFor(target: TunnelTarget): ProxyRoute = when (this) {
    ProxySettings.Direct -> ProxyRoute.Direct

    ProxySettings.SystemDefault -> selectorRoute(ProxySelector.getDefault(), ProxyAuthenticator.jvm(), target)

    is ProxySettings.Selected -> selectorRoute(selector, authenticator, target)

    is ProxySettings.Http -> ProxyRoute.HttpConnect(InetSocketAddress.createUnresolved(host, port), authenticator)

    is ProxySettings.Socks5 -> {
        val user = username
        val secret = password
        ProxyRoute.Socks5(
            InetSocketAddress.createUnresolved(host, port),
            offerUsernamePassword = user != null,
            credentials = {
                if (user != null &&
                    secret != null
                ) {
                    PasswordAuthentication(user, secret.toCharArray())
                } else {
                    null
                }
            },
        )
    }
}

private fun selectorRoute(
    selector: ProxySelector?,
    authenticator: ProxyAuthenticator,
    target: TunnelTarget,
): ProxyRoute {
    if (selector == null) return ProxyRoute.Direct
    val uri =
        try {
            URI(if (target.secure) "https" else "http", null, target.host, target.port, null, null, null)
        } catch (_: URISyntaxException) {
            return ProxyRoute.Direct
        }
    // A selector is application code (or a PAC engine): one that throws must not take the connection down with it;
    // the JDK's clients treat that as "no proxy" too.
    val proxy = runCatching { selector.select(uri)?.firstOrNull() }.getOrNull() ?: return ProxyRoute.Direct
    val address = proxy.address() as? InetSocketAddress ?: return ProxyRoute.Direct
    val connectFailed: (IOException) -> Unit = { e -> runCatching { selector.connectFailed(uri, address, e) } }
    return when (proxy.type()) {
        Proxy.Type.HTTP -> ProxyRoute.HttpConnect(address, authenticator, connectFailed)

        Proxy.Type.SOCKS -> ProxyRoute.Socks5(
            address,
            // Offered always, as the JDK's own SOCKS client does: whether an Authenticator would answer is known
            // only by asking it (Authenticator.getDefault is Java 9, which Android lacks), and asking is left until
            // the proxy picks username/password.
            offerUsernamePassword = true,
            credentials = { jvmSocksCredentials(address) },
            connectFailed = connectFailed,
        )

        else -> ProxyRoute.Direct
    }
}

/*
 * The JDK's own SOCKS client asks the default Authenticator with protocol "SOCKS5" and prompt "SOCKS authentication"
 * (RequestorType.SERVER, the six-argument overload's default), so an application's existing Authenticator answers
 * Parley the same way. The java.net.socks.username/password properties are the documented fallback.
 */
private fun jvmSocksCredentials(proxy: InetSocketAddress): PasswordAuthentication? =
    Authenticator.requestPasswordAuthentication(
        proxy.hostString,
        // Not proxy.address: it is null for an unresolved address, and resolving it here would block on DNS for a
        // value that authenticators rarely read.
        null,
        proxy.port,
        "SOCKS5",
        "SOCKS authentication",
        null,
    ) ?: socksPropertyCredentials()

private fun socksPropertyCredentials(): PasswordAuthentication? {
    val user = System.getProperty("java.net.socks.username")?.takeIf { it.isNotEmpty() } ?: return null
    val password = System.getProperty("java.net.socks.password") ?: return null
    return PasswordAuthentication(user, password.toCharArray())
}
