package dev.parley

import java.io.InputStream
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.security.cert.X509Certificate
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509KeyManager
import javax.net.ssl.X509TrustManager

/**
 * TLS settings for `wss://`. TLS is the platform's (JSSE; Conscrypt on Android): TLS 1.3 and 1.2, the JVM's trust
 * store, and the host name checked against the certificate (IP addresses included), unless said otherwise here.
 *
 * @property trustManager trusts the server's certificate chain; `null` uses the JVM's default trust store. See
 *   [trusting] for a trust manager over your own CA certificates.
 * @property serverName the name the certificate must match and, unless it is an IP address, the SNI name sent;
 *   `null` uses the URL's host.
 * @property keyManager presents a client certificate when the server asks for one (mutual TLS); `null` presents
 *   none. See [keyManagerFrom].
 * @property sslContext a whole `SSLContext` of your own (a FIPS provider, say); when set, [trustManager] and
 *   [keyManager] must be `null`, since the context already has its own.
 * @property protocols the TLS versions to enable (e.g. `listOf("TLSv1.3")`); `null` for the platform's default.
 * @property cipherSuites the cipher suites to enable; `null` for the platform's default.
 */
public data class TlsSettings(
    val trustManager: X509TrustManager? = null,
    val serverName: String? = null,
    val keyManager: X509KeyManager? = null,
    val sslContext: SSLContext? = null,
    val protocols: List<String>? = null,
    val cipherSuites: List<String>? = null,
) {
    internal fun validate() {
        require(sslContext == null || (trustManager == null && keyManager == null)) {
            "tls: give either an sslContext or a trustManager/keyManager, not both: the context has its own"
        }
        require(protocols == null || protocols.isNotEmpty()) { "tls.protocols must not be empty" }
        require(cipherSuites == null || cipherSuites.isNotEmpty()) { "tls.cipherSuites must not be empty" }
        require(serverName == null || serverName.isNotBlank()) { "tls.serverName must not be blank" }
    }

    /** Ready-made trust and key managers for the usual cases. */
    public companion object {
        /** A trust manager that trusts exactly [certificates] (your CA, or a pinned server certificate). */
        @JvmStatic
        public fun trusting(certificates: Collection<X509Certificate>): X509TrustManager {
            require(certificates.isNotEmpty()) { "trusting: no certificate given" }
            val store = KeyStore.getInstance(KeyStore.getDefaultType()).apply { load(null, null) }
            certificates.forEachIndexed { i, certificate -> store.setCertificateEntry("trusted-$i", certificate) }
            val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
            factory.init(store)
            return factory.trustManagers.filterIsInstance<X509TrustManager>().single()
        }

        /** A trust manager that trusts exactly the certificates in [pem] (one or more PEM blocks); closes nothing. */
        @JvmStatic
        public fun trustingPem(pem: InputStream): X509TrustManager =
            trusting(CertificateFactory.getInstance("X.509").generateCertificates(pem).map { it as X509Certificate })

        /**
         * A key manager that presents the key and certificate chain in [keyStore] (a PKCS#12 file loaded with
         * `KeyStore.getInstance("PKCS12")`, say), whose keys are protected by [password].
         */
        @JvmStatic
        public fun keyManagerFrom(keyStore: KeyStore, password: CharArray): X509KeyManager {
            val factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm())
            factory.init(keyStore, password)
            return factory.keyManagers.filterIsInstance<X509KeyManager>().single()
        }
    }
}
