package dev.parley

import dev.parley.support.Seen
import dev.parley.support.connectFailure
import dev.parley.support.echoAttempt
import dev.parley.testing.KtorTestServer
import dev.parley.testing.NginxTls
import dev.parley.testing.NginxTls.Protocols
import dev.parley.testing.NginxTls.ServerCertificate
import dev.parley.testing.TestPki
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.net.URI
import java.nio.file.Files
import javax.net.ssl.SSLHandshakeException

/*
 * wss:// on the default transport against a TLS terminator nobody here wrote: nginx, in front of the in-JVM echo
 * server, with the test PKI (a CA, a server certificate for localhost, 127.0.0.1 and ::1, a client certificate). Each
 * refusal has a passing twin in the same set-up, so a refusal cannot come from a broken fixture.
 */
class TlsReachSpec :
    FunSpec({
        val backend = KtorTestServer().start()
        afterSpec { backend.close() }

        /** What the first connection attempt to [uri] comes to: the echo of one message, or the disconnect. */
        suspend fun attempt(uri: URI, tls: TlsSettings = TlsSettings(trustManager = TestPki.trustManager)): Seen =
            echoAttempt(
                parleyOptions {
                    url = uri.toString()
                    this.tls = tls
                    reconnect = null
                },
                "hello through nginx",
            )

        fun Seen.shouldBeEcho() = shouldBe(Seen.Received(Frame.Text("hello through nginx")))

        test("a TLS 1.3-only server is reached (TLS 1.3 is negotiated, it accepts nothing else)") {
            NginxTls(backend.port, protocols = Protocols.TLS_1_3).use { attempt(it.uri("/ws")).shouldBeEcho() }
        }

        test("a TLS 1.2-only server is reached") {
            NginxTls(backend.port, protocols = Protocols.TLS_1_2).use { attempt(it.uri("/ws")).shouldBeEcho() }
        }

        test("tls.protocols limits what is offered: TLS 1.2 only against a TLS 1.3-only server fails the handshake") {
            NginxTls(backend.port, protocols = Protocols.TLS_1_3).use { nginx ->
                val onlyTls12 = TlsSettings(trustManager = TestPki.trustManager, protocols = listOf("TLSv1.2"))
                attempt(nginx.uri("/ws"), onlyTls12).connectFailure().shouldBeInstanceOf<javax.net.ssl.SSLException>()
            }
        }

        test("mutual TLS: the client certificate from keyManager is accepted; without it nginx refuses with 400") {
            NginxTls(backend.port, requireClientCertificate = true).use { nginx ->
                val withCertificate =
                    TlsSettings(trustManager = TestPki.trustManager, keyManager = TestPki.clientKeyManager)
                attempt(nginx.uri("/ws"), withCertificate).shouldBeEcho()
                val refused = attempt(nginx.uri("/ws")).shouldBeInstanceOf<Seen.Disconnected>().reason
                refused.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().status shouldBe 400
            }
        }

        test("an sslContext of your own is used as it is") {
            NginxTls(backend.port, requireClientCertificate = true).use { nginx ->
                val context = TestPki.clientSslContext(withClientCertificate = true)
                attempt(nginx.uri("/ws"), TlsSettings(sslContext = context)).shouldBeEcho()
            }
        }

        test("a custom CA from a PEM file, the host given as a name (SNI) and as 127.0.0.1 (no SNI, IP SAN)") {
            NginxTls(backend.port).use { nginx ->
                val trust = Files.newInputStream(TestPki.caCertificateFile).use { TlsSettings.trustingPem(it) }
                attempt(nginx.uri("/ws", host = "localhost"), TlsSettings(trustManager = trust)).shouldBeEcho()
                attempt(nginx.uri("/ws", host = "127.0.0.1"), TlsSettings(trustManager = trust)).shouldBeEcho()
            }
        }

        test("wss://[::1] is verified against the certificate's IPv6 address") {
            if (!NginxTls.ipv6LoopbackAvailable) return@test
            NginxTls(backend.port, ipv6 = true).use { attempt(it.uri("/ws", host = "::1")).shouldBeEcho() }
        }

        test("a certificate from an untrusted CA is refused, naming the path failure") {
            NginxTls(backend.port, certificate = ServerCertificate.UNTRUSTED_CA).use { nginx ->
                val failure = attempt(nginx.uri("/ws")).connectFailure()
                failure.shouldBeInstanceOf<SSLHandshakeException>().message.orEmpty() shouldContain "PKIX"
            }
        }

        test("a certificate for another host is refused, for a name and for an IP address") {
            NginxTls(backend.port, certificate = ServerCertificate.WRONG_HOST).use { nginx ->
                for (host in listOf("localhost", "127.0.0.1")) {
                    val failure = attempt(nginx.uri("/ws", host = host)).connectFailure()
                    failure.shouldBeInstanceOf<SSLHandshakeException>().message.orEmpty() shouldContain
                        "No subject alternative"
                }
            }
        }

        test("without a trust manager the JVM's trust store applies, which does not hold the test CA") {
            NginxTls(backend.port).use { nginx ->
                attempt(nginx.uri("/ws"), TlsSettings()).connectFailure().shouldBeInstanceOf<SSLHandshakeException>()
            }
        }
    })
