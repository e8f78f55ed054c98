package dev.parley.testing

import io.ktor.network.tls.certificates.buildKeyStore
import java.net.InetAddress
import java.security.KeyStore
import java.security.cert.X509Certificate
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager

/**
 * A self-signed certificate for `127.0.0.1` and `localhost`, made once per test JVM, for `wss://` tests.
 *
 * Why generated and not checked in: nothing expires in the repository and no private key is committed. The key store is
 * built with Ktor's `ktor-network-tls-certificates` (3.5.2: the newest published; 3.6.x does not exist on Central).
 *
 * Servers use [keyStore] / [serverSslContext]; clients trust exactly this certificate via [trustManager] or
 * [clientSslContext] (nothing else is trusted, so a test cannot silently reach a real CA-signed host).
 */
object TestTls {
    /** Alias of the key entry in [keyStore]. */
    const val ALIAS: String = "parley-test"

    /** Password of both the key store and the key entry. */
    const val PASSWORD: String = "parley-test-password"

    /** Key store holding the private key and the self-signed certificate. */
    val keyStore: KeyStore by lazy {
        buildKeyStore {
            certificate(ALIAS) {
                password = PASSWORD
                // Both SAN kinds: clients dial 127.0.0.1 (IP SAN) but some check "localhost" (DNS SAN).
                domains = listOf("localhost", "127.0.0.1")
                ipAddresses = listOf(InetAddress.getByName(LOOPBACK))
            }
        }
    }

    /** The self-signed certificate. */
    val certificate: X509Certificate by lazy { keyStore.getCertificate(ALIAS) as X509Certificate }

    /** Trust manager that trusts [certificate] only. */
    val trustManager: X509TrustManager by lazy {
        val trustStore = KeyStore.getInstance(KeyStore.getDefaultType()).apply {
            load(null, null)
            setCertificateEntry(ALIAS, certificate)
        }
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
            .apply { init(trustStore) }
            .trustManagers.filterIsInstance<X509TrustManager>().single()
    }

    /** Client-side context trusting [certificate] only. */
    val clientSslContext: SSLContext by lazy {
        SSLContext.getInstance("TLS").apply { init(null, arrayOf(trustManager), null) }
    }

    /** Server-side context presenting [certificate]. */
    val serverSslContext: SSLContext by lazy {
        val keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm())
            .apply { init(keyStore, PASSWORD.toCharArray()) }
            .keyManagers
        SSLContext.getInstance("TLS").apply { init(keyManagers, null, null) }
    }
}
