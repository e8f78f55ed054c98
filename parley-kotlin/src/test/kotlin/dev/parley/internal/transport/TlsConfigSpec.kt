package dev.parley.internal.transport

import dev.parley.TlsSettings
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import javax.net.ssl.SNIHostName

/* What every wss:// engine is set up with: the JDK's host name check, SNI for names only, ALPN for HTTP/1.1. */
class TlsConfigSpec :
    FunSpec({
        val config = TlsConfig(TlsSettings())

        test("a host name is checked as HTTPS checks it and sent as SNI") {
            val parameters = config.engine("example.test", 443).sslParameters
            parameters.endpointIdentificationAlgorithm shouldBe "HTTPS"
            parameters.serverNames shouldBe listOf(SNIHostName("example.test"))
            parameters.applicationProtocols.toList() shouldBe listOf("http/1.1")
        }

        test("an IPv4 or IPv6 address is never sent as SNI (RFC 6066 §3), and is still checked") {
            for (address in listOf("127.0.0.1", "::1", "2001:db8::7")) {
                val parameters = config.engine(address, 443).sslParameters
                parameters.serverNames.shouldBeEmpty()
                parameters.endpointIdentificationAlgorithm shouldBe "HTTPS"
            }
        }

        test("serverName replaces the URL's host for both the check and SNI; protocols and suites are applied") {
            val custom =
                TlsConfig(
                    TlsSettings(
                        serverName = "api.example.test",
                        protocols = listOf("TLSv1.3"),
                        cipherSuites = listOf("TLS_AES_128_GCM_SHA256"),
                    ),
                )
            val engine = custom.engine("10.0.0.1", 8443)
            engine.peerHost shouldBe "api.example.test"
            engine.sslParameters.serverNames shouldBe listOf(SNIHostName("api.example.test"))
            engine.enabledProtocols.toList() shouldBe listOf("TLSv1.3")
            engine.enabledCipherSuites.toList() shouldBe listOf("TLS_AES_128_GCM_SHA256")
        }
    })
