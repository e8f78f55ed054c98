package dev.parley.samples.connecting

import dev.parley.ParleyOptions
import dev.parley.ProxyAuthenticator
import dev.parley.ProxySettings
import dev.parley.TlsSettings
import dev.parley.parleyOptions
import java.io.File
import java.security.KeyStore

fun tlsAndProxyOptions(caPem: File, clientP12: File, password: CharArray): ParleyOptions = parleyOptions {
    url = "wss://api.example.com/stream"
    tls =
        TlsSettings(
            trustManager = caPem.inputStream().use { TlsSettings.trustingPem(it) }, // your CA; default: the JVM's
            keyManager = TlsSettings.keyManagerFrom( // a client certificate, for mutual TLS
                KeyStore.getInstance("PKCS12").apply { clientP12.inputStream().use { load(it, password) } },
                password,
            ),
            protocols = listOf("TLSv1.3", "TLSv1.2"), // default: the platform's
        )
    // Default: ProxySettings.SystemDefault, the JVM's ProxySelector (-Dhttps.proxyHost, -DsocksProxyHost, …).
    proxy = ProxySettings.http("proxy.corp", 3128, ProxyAuthenticator.basic("alice", "secret"))
    // or: proxy = ProxySettings.socks5("127.0.0.1", 1080, "alice", "secret")
}
