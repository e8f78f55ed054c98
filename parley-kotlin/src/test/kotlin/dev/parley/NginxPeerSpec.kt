package dev.parley

import dev.parley.testing.JdkWsClient
import dev.parley.testing.KtorTestServer
import dev.parley.testing.NginxTls
import dev.parley.testing.NginxTls.Protocols
import dev.parley.testing.NginxTls.ServerCertificate
import dev.parley.testing.TestPki
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.net.URI
import java.net.http.WebSocketHandshakeException
import java.nio.file.Files
import java.security.KeyStore
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLException
import javax.net.ssl.SSLHandshakeException
import javax.net.ssl.SSLSocket
import javax.net.ssl.TrustManagerFactory

/**
 * Proves the [NginxTls] and [TestPki] fixtures with the JDK's own WebSocket client, so that the fixtures are checked
 * by code that shares nothing with Parley: a real nginx terminates TLS in front of the in-JVM Ktor echo server on
 * `/ws`. Each refusal test has a passing twin (same nginx set-up, right credentials), so a refusal cannot come from a
 * broken fixture.
 */
class NginxPeerSpec :
    FunSpec({
        val backend = KtorTestServer().start()
        afterSpec { backend.close() }

        /** One echo round trip over `wss://` through nginx; the backend must have accepted it. */
        suspend fun echoThrough(uri: URI, sslContext: SSLContext) {
            val before = backend.acceptedConnections.size
            JdkWsClient.connect(uri.toString(), sslContext = sslContext).use { client ->
                client.sendText("hello through nginx")
                client.awaitText() shouldBe "hello through nginx"
                client.sendBinary(byteArrayOf(1, 2, 3))
                client.awaitBinary().toList() shouldBe listOf<Byte>(1, 2, 3)
            }
            backend.acceptedConnections.awaitCount(before + 1)
        }

        /** The connect failure, and proof that nothing reached the backend (nginx refused, not the echo server). */
        suspend fun refusal(uri: URI, sslContext: SSLContext): Throwable {
            val before = backend.upgradeRequests.size
            val failure = try {
                JdkWsClient.connect(uri.toString(), sslContext = sslContext).close()
                null
            } catch (e: Exception) {
                e
            }
            withClue("connecting to $uri should have failed") { failure.shouldNotBeNull() }
            backend.upgradeRequests.all.drop(before).shouldBeEmpty()
            return failure!!
        }

        /** The TLS version a plain TLS handshake with nginx settles on (host names checked as HTTPS does). */
        fun negotiatedProtocol(nginx: NginxTls, vararg offered: String): String {
            val socket = TestPki.clientSslContext().socketFactory.createSocket("127.0.0.1", nginx.port) as SSLSocket
            return socket.use {
                it.soTimeout = 10_000
                it.sslParameters = it.sslParameters.apply {
                    endpointIdentificationAlgorithm = "HTTPS"
                    if (offered.isNotEmpty()) protocols = arrayOf(*offered)
                }
                it.startHandshake()
                it.session.protocol
            }
        }

        fun Throwable.causes(): Sequence<Throwable> = generateSequence(this) { it.cause }

        test("TLS 1.3 only: the handshake is TLS 1.3, a TLS 1.2 client is refused, and WebSocket echo passes") {
            NginxTls(backend.port, protocols = Protocols.TLS_1_3).use { nginx ->
                negotiatedProtocol(nginx) shouldBe "TLSv1.3"
                val refused = runCatching { negotiatedProtocol(nginx, "TLSv1.2") }.exceptionOrNull()
                withClue("a TLS 1.2-only handshake must fail") { (refused is SSLException) shouldBe true }
                echoThrough(nginx.uri("/ws"), TestPki.clientSslContext())
            }
        }

        test("TLS 1.2 only: the handshake is TLS 1.2, a TLS 1.3 client is refused, and WebSocket echo passes") {
            NginxTls(backend.port, protocols = Protocols.TLS_1_2).use { nginx ->
                negotiatedProtocol(nginx) shouldBe "TLSv1.2"
                val refused = runCatching { negotiatedProtocol(nginx, "TLSv1.3") }.exceptionOrNull()
                withClue("a TLS 1.3-only handshake must fail") { (refused is SSLException) shouldBe true }
                echoThrough(nginx.uri("/ws"), TestPki.clientSslContext())
            }
        }

        test("mutual TLS: the test client certificate is accepted, and without one nginx refuses the upgrade") {
            NginxTls(backend.port, requireClientCertificate = true).use { nginx ->
                echoThrough(nginx.uri("/ws"), TestPki.clientSslContext(withClientCertificate = true))
                // nginx completes the TLS handshake without a client certificate and answers HTTP 400 itself.
                val failure = refusal(nginx.uri("/ws"), TestPki.clientSslContext(withClientCertificate = false))
                val handshake = failure.causes().filterIsInstance<WebSocketHandshakeException>().firstOrNull()
                withClue("expected an HTTP refusal, got $failure") { handshake.shouldNotBeNull() }
                handshake!!.response.statusCode() shouldBe 400
            }
        }

        test("wss://[::1]: nginx listens on the IPv6 loopback too, and the IP SAN ::1 is accepted")
            .config(
                enabledOrReasonIf = {
                    if (NginxTls.ipv6LoopbackAvailable) {
                        Enabled.enabled
                    } else {
                        Enabled.disabled("this machine has no IPv6 loopback ([::1] cannot be bound)")
                    }
                },
            ) {
                NginxTls(backend.port, ipv6 = true).use { nginx ->
                    nginx.uri("/ws", host = "::1").host shouldBe "[::1]"
                    echoThrough(nginx.uri("/ws", host = "::1"), TestPki.clientSslContext())
                    echoThrough(nginx.uri("/ws"), TestPki.clientSslContext())
                }
            }

        test("a server certificate from an untrusted CA is refused") {
            NginxTls(backend.port, certificate = ServerCertificate.UNTRUSTED_CA).use { nginx ->
                val failure = refusal(nginx.uri("/ws"), TestPki.clientSslContext())
                withClue("expected a TLS handshake failure, got $failure") {
                    failure.causes().any { it is SSLHandshakeException } shouldBe true
                }
                failure.causes().joinToString { it.message.orEmpty() } shouldContain "PKIX path building failed"
            }
        }

        test("a trusted certificate for another host name is refused") {
            NginxTls(backend.port, certificate = ServerCertificate.WRONG_HOST).use { nginx ->
                for (host in listOf("127.0.0.1", "localhost")) {
                    val failure = refusal(nginx.uri("/ws", host = host), TestPki.clientSslContext())
                    withClue("expected a TLS handshake failure for $host, got $failure") {
                        failure.causes().any { it is SSLHandshakeException } shouldBe true
                    }
                }
            }
        }

        test("the PKCS12 trust store file trusts the test CA, as -Djavax.net.ssl.trustStore would use it") {
            val trustStore = KeyStore.getInstance("PKCS12").apply {
                Files.newInputStream(TestPki.trustStoreFile).use { load(it, TestPki.PASSWORD.toCharArray()) }
            }
            val trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
                .apply { init(trustStore) }
                .trustManagers
            val sslContext = SSLContext.getInstance("TLS").apply { init(null, trustManagers, null) }
            NginxTls(backend.port).use { nginx ->
                echoThrough(nginx.uri("/ws", host = "localhost"), sslContext)
            }
        }
    })
