package dev.parley.internal.transport

import dev.parley.TlsSettings
import dev.parley.internal.NewerAndroidApi
import javax.net.ssl.SNIHostName
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLEngine
import javax.net.ssl.SSLParameters

/**
 * Makes the SSLEngine for each `wss://` connection of one client from its [TlsSettings]. The SSLContext is built once
 * per client: building one loads a trust store, far too slow to do per connection, and one context keeps the TLS
 * session cache that lets reconnects resume.
 */
internal class TlsConfig(
    private val settings: TlsSettings,
) {
    private val context: SSLContext by lazy {
        settings.sslContext
            ?: if (settings.trustManager == null && settings.keyManager == null) {
                SSLContext.getDefault()
            } else {
                SSLContext.getInstance("TLS").apply {
                    init(settings.keyManager?.let { arrayOf(it) }, settings.trustManager?.let { arrayOf(it) }, null)
                }
            }
    }

    /** An engine for [host] (the URL's host, without brackets), checked against the certificate with HTTPS rules. */
    fun engine(host: String, port: Int): SSLEngine {
        val name = settings.serverName ?: host
        val engine = context.createSSLEngine(name, port)
        engine.useClientMode = true
        val parameters = engine.sslParameters
        // The JDK's own endpoint identification (RFC 2818/6125): DNS names against DNS SANs, IP addresses (v4 and
        // v6) against IP SANs. Without it, JSSE checks the chain but not whose certificate it is.
        parameters.endpointIdentificationAlgorithm = "HTTPS"
        // RFC 6066 §3: SNI carries host names only, never an IP address literal.
        parameters.serverNames = if (isIpLiteral(name)) emptyList() else listOf(SNIHostName(name))
        offerHttp11(parameters)
        settings.protocols?.let { parameters.protocols = it.toTypedArray() }
        settings.cipherSuites?.let { parameters.cipherSuites = it.toTypedArray() }
        engine.sslParameters = parameters
        return engine
    }
}

/** WebSocket is HTTP/1.1 (RFC 6455): says so in ALPN, so a server that would pick h2 does not. */
@NewerAndroidApi
private fun offerHttp11(parameters: SSLParameters) {
    try {
        parameters.applicationProtocols = arrayOf("http/1.1")
    } catch (_: NoSuchMethodError) {
        // Android before 10 has no ALPN API; without ALPN a server speaks HTTP/1.1, which is what we want anyway.
    }
}

/** Whether [host] is an IPv4 or IPv6 address literal (without brackets) rather than a name to look up. */
internal fun isIpLiteral(host: String): Boolean =
    ':' in host || (host.isNotEmpty() && host.all { it.isDigit() || it == '.' } && host.count { it == '.' } == 3)
