package dev.parley.bench

import java.io.File
import java.security.KeyStore
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager

/**
 * The echo server's self-signed certificate and what a client needs to trust it. The harness generates one key pair
 * per run with the JDK's keytool (RSA 2048, SAN ip:127.0.0.1 and dns:localhost, so that hostname verification passes
 * for `wss://127.0.0.1`): Netty 4.2's SelfSignedCertificate needs BouncyCastle or JDK internals and sets no SAN.
 */
object TlsCert {
    const val PASSWORD = "parley-bench"

    /** The TLS ports, each restricted to one protocol version and one cipher suite (see [EchoServer]). */
    val PROTOCOLS = listOf("TLSv1.3", "TLSv1.2")

    fun generate(dir: File): File {
        val file = File(dir.apply { mkdirs() }, "echo-server.p12")
        file.delete()
        val keytool = File(System.getProperty("java.home"), "bin/keytool").path
        val process =
            ProcessBuilder(
                keytool, "-genkeypair", "-alias", "echo", "-keyalg", "RSA", "-keysize", "2048",
                "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "7",
                "-storetype", "PKCS12", "-keystore", file.path, "-storepass", PASSWORD, "-keypass", PASSWORD,
            ).redirectErrorStream(true).start()
        val output = process.inputStream.bufferedReader().readText()
        check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "keytool failed: $output" }
        return file
    }

    fun keyStore(file: File): KeyStore =
        KeyStore.getInstance("PKCS12").apply { file.inputStream().use { load(it, PASSWORD.toCharArray()) } }
}

/** A trust manager and an SSLContext that trust exactly the echo server's certificate, for the clients' wss runs. */
class BenchTls(
    val trustManager: X509TrustManager,
    val sslContext: SSLContext,
) {
    companion object {
        fun trusting(keyStoreFile: File): BenchTls {
            val cert = TlsCert.keyStore(keyStoreFile).getCertificate("echo")
            // Only the certificate, as a trusted entry: a client must not see the server's private key.
            val trust = KeyStore.getInstance("PKCS12").apply {
                load(null, null)
                setCertificateEntry("echo", cert)
            }
            val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply {
                init(trust)
            }
            val manager = factory.trustManagers.filterIsInstance<X509TrustManager>().first()
            val context = SSLContext.getInstance("TLS").apply { init(null, arrayOf(manager), null) }
            return BenchTls(manager, context)
        }
    }
}
