package dev.parley

import java.net.Authenticator
import java.net.MalformedURLException
import java.net.ProxySelector
import java.net.URL
import java.util.Base64

/**
 * How Parley reaches the server: straight, or through an HTTP or SOCKS5 proxy.
 *
 * [SystemDefault] (the default) asks the JVM's [ProxySelector] at every connection attempt, so the standard system
 * properties (`http.proxyHost`, `https.proxyHost`, `socksProxyHost`, `http.nonProxyHosts`, …) and
 * `java.net.useSystemProxies` work without any Parley setting. The selector is asked about `http://host:port` for a
 * `ws://` URL and `https://host:port` for `wss://`, as the JDK's `HttpClient` asks.
 *
 * An HTTP proxy is always used as a tunnel (`CONNECT`), for `ws://` as well as `wss://`: a proxy that forwards plain
 * requests drops the `Upgrade` header, so a WebSocket upgrade cannot pass through it any other way. Credentials for
 * the proxy go to the proxy only; the server never sees them. A SOCKS5 proxy is asked to connect to the host by name,
 * so the host name is looked up at the proxy, not here.
 *
 * `toString()` never shows a password.
 */
public sealed class ProxySettings {
    /**
     * Asks [ProxySelector.getDefault] which proxy to use, at each connection attempt. An HTTP proxy that asks for
     * credentials is answered by [ProxyAuthenticator.jvm]; a SOCKS5 proxy's credentials come from
     * [java.net.Authenticator] (asked for protocol `SOCKS5`, as the JDK's own sockets ask) or, failing that, the
     * system properties `java.net.socks.username` and `java.net.socks.password`.
     */
    public object SystemDefault : ProxySettings() {
        override fun toString(): String = "ProxySettings.SystemDefault"
    }

    /** No proxy: connect to the server itself, whatever the JVM's proxy settings say. */
    public object Direct : ProxySettings() {
        override fun toString(): String = "ProxySettings.Direct"
    }

    /**
     * Asks [selector] which proxy to use, at each connection attempt, like [SystemDefault] with another selector
     * (a PAC-file library's, say).
     *
     * @property selector the selector to ask.
     * @property authenticator answers an HTTP proxy's request for credentials (HTTP 407).
     */
    public class Selected(
        public val selector: ProxySelector,
        public val authenticator: ProxyAuthenticator = ProxyAuthenticator.jvm(),
    ) : ProxySettings() {
        override fun toString(): String = "ProxySettings.Selected($selector)"
    }

    /**
     * Tunnels through the HTTP proxy at [host]:[port] with `CONNECT`.
     *
     * @param host the proxy's host name or IP literal (an IPv6 literal with or without brackets).
     * @property port the proxy's port.
     * @property authenticator answers the proxy's request for credentials (HTTP 407); `null` gives up at the first one.
     */
    public class Http(
        host: String,
        public val port: Int,
        public val authenticator: ProxyAuthenticator? = null,
    ) : ProxySettings() {
        /** The proxy's host name or IP literal, an IPv6 literal without brackets. */
        public val host: String = unbracketed(host)

        init {
            requireValidProxy(this.host, port)
        }

        override fun equals(other: Any?): Boolean =
            other is Http && other.host == host && other.port == port && other.authenticator == authenticator

        override fun hashCode(): Int = (host.hashCode() * 31 + port) * 31 + authenticator.hashCode()

        // The authenticator's own toString: the ready-made ones hide their password.
        override fun toString(): String = "ProxySettings.Http(${hostPort(host, port)}, authenticator=$authenticator)"
    }

    /**
     * Connects through the SOCKS5 proxy (RFC 1928) at [host]:[port], with username/password authentication
     * (RFC 1929) when [username] is given.
     *
     * @param host the proxy's host name or IP literal (an IPv6 literal with or without brackets).
     * @property port the proxy's port.
     * @property username the username to offer, 1 to 255 bytes in UTF-8; `null` offers no authentication.
     * @param password the password for [username], at most 255 bytes in UTF-8; `null` exactly when [username] is.
     */
    public class Socks5(
        host: String,
        public val port: Int,
        public val username: String? = null,
        password: String? = null,
    ) : ProxySettings() {
        /** The proxy's host name or IP literal, an IPv6 literal without brackets. */
        public val host: String = unbracketed(host)

        // Kept apart from the public properties so that nothing prints it by accident.
        internal val password: String? = password

        init {
            requireValidProxy(this.host, port)
            require((username == null) == (password == null)) { "a SOCKS5 username needs a password, and back" }
            if (username != null) {
                require(username.encodeToByteArray().size in 1..MAX_SOCKS_FIELD) {
                    "a SOCKS5 username must be 1 to $MAX_SOCKS_FIELD bytes in UTF-8"
                }
                require(password!!.encodeToByteArray().size <= MAX_SOCKS_FIELD) {
                    "a SOCKS5 password must be at most $MAX_SOCKS_FIELD bytes in UTF-8"
                }
            }
        }

        override fun equals(other: Any?): Boolean =
            other is Socks5 && other.host == host && other.port == port && other.username == username &&
                other.password == password

        override fun hashCode(): Int = ((host.hashCode() * 31 + port) * 31 + username.hashCode()) * 31 +
            password.hashCode()

        override fun toString(): String =
            "ProxySettings.Socks5(${hostPort(host, port)}" + (username?.let { ", username=$it, password=***" } ?: "") +
                ")"
    }

    /** Factories, for Java callers chiefly. */
    public companion object {
        /** [SystemDefault]: the JVM's [ProxySelector], asked at every attempt. */
        @JvmStatic
        public fun system(): ProxySettings = SystemDefault

        /** [Direct]: no proxy. */
        @JvmStatic
        public fun direct(): ProxySettings = Direct

        /** [Selected]: [selector] asked at every attempt, HTTP proxy credentials from [ProxyAuthenticator.jvm]. */
        @JvmStatic
        public fun selector(selector: ProxySelector): ProxySettings = Selected(selector)

        /** [Selected]: [selector] asked at every attempt, HTTP proxy credentials from [authenticator]. */
        @JvmStatic
        public fun selector(selector: ProxySelector, authenticator: ProxyAuthenticator): ProxySettings =
            Selected(selector, authenticator)

        /** [Http]: a `CONNECT` tunnel through [host]:[port], without credentials. */
        @JvmStatic
        public fun http(host: String, port: Int): ProxySettings = Http(host, port)

        /** [Http]: a `CONNECT` tunnel through [host]:[port], a 407 answered by [authenticator]. */
        @JvmStatic
        public fun http(host: String, port: Int, authenticator: ProxyAuthenticator): ProxySettings =
            Http(host, port, authenticator)

        /** [Socks5]: through the SOCKS5 proxy at [host]:[port], without authentication. */
        @JvmStatic
        public fun socks5(host: String, port: Int): ProxySettings = Socks5(host, port)

        /** [Socks5]: through the SOCKS5 proxy at [host]:[port], authenticating as [username] with [password]. */
        @JvmStatic
        public fun socks5(host: String, port: Int, username: String, password: String): ProxySettings =
            Socks5(host, port, username, password)
    }
}

/**
 * Answers an HTTP proxy that asks for credentials (HTTP 407 Proxy Authentication Required) with the value of the
 * `Proxy-Authorization` header to send on a new `CONNECT`, or `null` to give up.
 *
 * It is called once per 407, on a thread of `Dispatchers.IO`, so it may block (to read a credential store, or to ask
 * the user); the connect timeout still applies. After a few refusals in a row Parley gives up without asking again.
 * The header goes to the proxy only, never to the server.
 */
public fun interface ProxyAuthenticator {
    /** The `Proxy-Authorization` value answering [challenge], or `null` to give up. */
    public fun authorize(challenge: ProxyChallenge): String?

    /** Ready-made authenticators. */
    public companion object {
        /**
         * Answers a `Basic` challenge with [username] and [password] (RFC 7617, encoded in UTF-8), once: if the proxy
         * refuses them, asking again with the same credentials cannot help, so the second 407 gives up. Challenges
         * that do not offer `Basic` are not answered.
         */
        @JvmStatic
        public fun basic(username: String, password: String): ProxyAuthenticator = BasicProxyAuthenticator(
            username,
            password,
        )

        /**
         * Asks the JVM's [java.net.Authenticator] (the one set with [Authenticator.setDefault]) for the proxy's
         * credentials, with [Authenticator.RequestorType.PROXY], and answers a `Basic` challenge with them. It gives
         * up when no authenticator is set, when it has no credentials, and when the system property
         * `jdk.http.auth.tunneling.disabledSchemes` is set and names `Basic` (as the JDK's own HTTP clients do).
         */
        @JvmStatic
        public fun jvm(): ProxyAuthenticator = JvmProxyAuthenticator
    }
}

/**
 * An HTTP proxy's demand for credentials, as [ProxyAuthenticator.authorize] receives it.
 *
 * @property proxyHost the proxy's host.
 * @property proxyPort the proxy's port.
 * @property targetHost the host the tunnel was asked for.
 * @property targetPort the port the tunnel was asked for.
 * @property challenges the proxy's `Proxy-Authenticate` values, in its order, e.g. `Basic realm="corp"`.
 * @property attempt 1 for the first 407 of a connection attempt, 2 when the proxy refused the first answer, and so on.
 */
public class ProxyChallenge(
    public val proxyHost: String,
    public val proxyPort: Int,
    public val targetHost: String,
    public val targetPort: Int,
    public val challenges: List<String>,
    public val attempt: Int,
) {
    /** The `realm` parameter of the first challenge of [scheme] (case-insensitive), or `null`. */
    public fun realm(scheme: String): String? = challenges.firstNotNullOfOrNull { challenge ->
        if (!challenge.trimStart().startsWith(scheme, ignoreCase = true)) return@firstNotNullOfOrNull null
        REALM.find(challenge)?.let { it.groupValues[1].ifEmpty { it.groupValues[2] } }
    }

    /** Whether some challenge offers [scheme] (case-insensitive), e.g. `Basic`. */
    public fun offers(scheme: String): Boolean = challenges.any { challenge ->
        val name = challenge.trimStart().substringBefore(' ')
        name.equals(scheme, ignoreCase = true)
    }

    override fun toString(): String =
        "ProxyChallenge(proxy=${hostPort(proxyHost, proxyPort)}, target=${hostPort(targetHost, targetPort)}, " +
            "challenges=$challenges, attempt=$attempt)"

    private companion object {
        val REALM = Regex("""realm\s*=\s*(?:"([^"]*)"|([^\s,]*))""", RegexOption.IGNORE_CASE)
    }
}

private class BasicProxyAuthenticator(private val username: String, private val password: String) :
    ProxyAuthenticator {
    override fun authorize(challenge: ProxyChallenge): String? {
        if (challenge.attempt > 1 || !challenge.offers(BASIC)) return null
        return basicAuthorization(username, password)
    }

    override fun toString(): String = "ProxyAuthenticator.basic($username, ***)"
}

private object JvmProxyAuthenticator : ProxyAuthenticator {
    override fun authorize(challenge: ProxyChallenge): String? {
        if (!challenge.offers(BASIC) || basicDisabledForTunnels()) return null
        val url =
            try {
                URL("https", challenge.targetHost, challenge.targetPort, "")
            } catch (_: MalformedURLException) {
                null
            }
        // The address argument stays null: looking the proxy up again here would block on DNS for a value that
        // authenticators rarely read.
        val credentials = Authenticator.requestPasswordAuthentication(
            challenge.proxyHost,
            null,
            challenge.proxyPort,
            "http",
            challenge.realm(BASIC) ?: "",
            BASIC,
            url,
            Authenticator.RequestorType.PROXY,
        ) ?: return null
        return basicAuthorization(credentials.userName, String(credentials.password))
    }

    // The JDK ships this property as "Basic" in net.properties, which System.getProperty does not see; so only a value
    // the application set itself is honoured here, and the JDK-wide default does not silently disable the one scheme
    // Parley speaks.
    private fun basicDisabledForTunnels(): Boolean = System.getProperty("jdk.http.auth.tunneling.disabledSchemes")
        ?.split(',')
        ?.any { it.trim().equals(BASIC, ignoreCase = true) } == true

    override fun toString(): String = "ProxyAuthenticator.jvm()"
}

private const val BASIC = "Basic"
private const val MAX_SOCKS_FIELD = 255

private fun basicAuthorization(username: String, password: String): String =
    "Basic " + Base64.getEncoder().encodeToString("$username:$password".toByteArray(Charsets.UTF_8))

private fun unbracketed(host: String): String =
    if (host.startsWith("[") && host.endsWith("]")) host.substring(1, host.length - 1) else host

private fun requireValidProxy(host: String, port: Int) {
    require(host.isNotEmpty()) { "the proxy host must not be empty" }
    require(port in 1..MAX_PORT) { "the proxy port must be 1 to $MAX_PORT, not $port" }
}

private const val MAX_PORT = 65_535

/** `host:port`, with an IPv6 literal in brackets. */
internal fun hostPort(host: String, port: Int): String = if (':' in host) "[$host]:$port" else "$host:$port"
