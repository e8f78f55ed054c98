package dev.parley

import dev.parley.support.Seen
import dev.parley.support.connectFailure
import dev.parley.support.echoAttempt
import dev.parley.testing.KtorTestServer
import dev.parley.testing.NginxTls
import dev.parley.testing.ProxyPeers
import dev.parley.testing.TestPki
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldNotContain
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import java.net.Authenticator
import java.net.PasswordAuthentication

/*
 * The default transport through proxies nobody here wrote: tinyproxy (HTTP CONNECT, with and without Basic auth) and
 * microsocks (SOCKS5, with and without RFC 1929 auth), in front of the in-JVM echo server, for ws:// and for wss://
 * (through nginx). The proxy's credentials must never reach the server.
 */
class ProxyReachSpec :
    FunSpec({
        val backend = KtorTestServer().start()
        val nginx = NginxTls(backend.port)
        afterSpec {
            nginx.close()
            backend.close()
        }

        suspend fun attempt(url: String, proxy: ProxySettings): Seen = echoAttempt(
            parleyOptions {
                this.url = url
                this.proxy = proxy
                tls = TlsSettings(trustManager = TestPki.trustManager)
                reconnect = null
            },
            "hello through the proxy",
        )

        fun Seen.shouldBeEcho() = shouldBe(Seen.Received(Frame.Text("hello through the proxy")))

        val ws = "ws://127.0.0.1:${backend.port}/ws"
        val wss = nginx.uri("/ws").toString()

        test("ws:// and wss:// through an HTTP CONNECT proxy") {
            ProxyPeers.tinyproxy().use { proxy ->
                attempt(ws, ProxySettings.http(proxy.host, proxy.port)).shouldBeEcho()
                attempt(wss, ProxySettings.http(proxy.host, proxy.port)).shouldBeEcho()
            }
        }

        test("a proxy that wants Basic credentials: 407 without them, through with them, never sent to the server") {
            ProxyPeers.tinyproxy("alice", "secret").use { proxy ->
                val failure = attempt(ws, ProxySettings.http(proxy.host, proxy.port)).connectFailure()
                failure.shouldBeInstanceOf<ProxyAuthRequiredException>()
                val before = backend.upgradeRequests.size
                val basic = ProxyAuthenticator.basic("alice", "secret")
                attempt(ws, ProxySettings.http(proxy.host, proxy.port, basic)).shouldBeEcho()
                attempt(wss, ProxySettings.http(proxy.host, proxy.port, basic)).shouldBeEcho()
                for (request in backend.upgradeRequests.all.drop(before)) {
                    request.headers.keys shouldNotContain "proxy-authorization"
                }
                val wrong = ProxyAuthenticator.basic("alice", "wrong")
                attempt(ws, ProxySettings.http(proxy.host, proxy.port, wrong))
                    .connectFailure()
                    .shouldBeInstanceOf<ProxyAuthRequiredException>()
            }
        }

        test("the JVM's Authenticator answers a proxy's 407 through ProxyAuthenticator.jvm()") {
            ProxyPeers.tinyproxy("alice", "secret").use { proxy ->
                Authenticator.setDefault(
                    object : Authenticator() {
                        override fun getPasswordAuthentication(): PasswordAuthentication? =
                            if (requestorType == RequestorType.PROXY) {
                                PasswordAuthentication("alice", "secret".toCharArray())
                            } else {
                                null
                            }
                    },
                )
                try {
                    attempt(ws, ProxySettings.http(proxy.host, proxy.port, ProxyAuthenticator.jvm())).shouldBeEcho()
                } finally {
                    Authenticator.setDefault(null)
                }
            }
        }

        test("ws:// and wss:// through SOCKS5, without and with username and password; a wrong password is refused") {
            ProxyPeers.microsocks().use { proxy ->
                attempt(ws, ProxySettings.socks5(proxy.host, proxy.port)).shouldBeEcho()
                attempt(wss, ProxySettings.socks5(proxy.host, proxy.port)).shouldBeEcho()
            }
            ProxyPeers.microsocks("alice", "secret").use { proxy ->
                attempt(ws, ProxySettings.socks5(proxy.host, proxy.port, "alice", "secret")).shouldBeEcho()
                attempt(ws, ProxySettings.socks5(proxy.host, proxy.port, "alice", "wrong"))
                    .connectFailure()
                    .shouldBeInstanceOf<SocksAuthFailedException>()
            }
        }

        test("by default the JVM's proxy settings apply: https.proxyHost for wss://, socksProxyHost for ws://") {
            val keys =
                listOf(
                    "https.proxyHost",
                    "https.proxyPort",
                    "socksProxyHost",
                    "socksProxyPort",
                    "http.nonProxyHosts",
                    "socksNonProxyHosts",
                )
            val saved = keys.associateWith { System.getProperty(it) }
            try {
                // The JVM bypasses proxies for loopback by default (localhost|127.*|[::1]); the servers here are all
                // on loopback, so the bypass lists are emptied for this test.
                System.setProperty("http.nonProxyHosts", "")
                System.setProperty("socksNonProxyHosts", "")
                ProxyPeers.tinyproxy("alice", "secret").use { http ->
                    System.setProperty("https.proxyHost", http.host)
                    System.setProperty("https.proxyPort", http.port.toString())
                    // The proxy asks for credentials: seeing ProxyAuthRequired proves the attempt went through it.
                    attempt(
                        wss,
                        ProxySettings.system(),
                    ).connectFailure().shouldBeInstanceOf<ProxyAuthRequiredException>()
                }
                ProxyPeers.microsocks().use { socks ->
                    System.clearProperty("https.proxyHost")
                    System.setProperty("socksProxyHost", socks.host)
                    System.setProperty("socksProxyPort", socks.port.toString())
                    attempt(ws, ProxySettings.system()).shouldBeEcho()
                    socks.close()
                    // With the proxy gone, the attempt fails: it did not quietly go straight to the server.
                    attempt(ws, ProxySettings.system()).connectFailure().shouldBeInstanceOf<java.net.ConnectException>()
                }
            } finally {
                for ((key, value) in saved) {
                    if (value == null) System.clearProperty(key) else System.setProperty(key, value)
                }
            }
        }
    })
