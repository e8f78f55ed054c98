package dev.parley.samples.connecting;

import dev.parley.ProxyAuthenticator;
import dev.parley.ProxySettings;
import dev.parley.TlsSettings;
import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;

public final class TlsAndProxies {
    private TlsAndProxies() {}

    public static ParleyWebSocket connect(Path caPem, Path clientP12, char[] password, ParleyListener listener)
            throws IOException, GeneralSecurityException {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(clientP12)) {
            keys.load(in, password);
        }
        try (InputStream ca = Files.newInputStream(caPem)) {
            return ParleyWebSocket.builder(URI.create("wss://api.example.com/stream"))
                .trustManager(TlsSettings.trustingPem(ca))                // your CA; default: the JVM's
                .keyManager(TlsSettings.keyManagerFrom(keys, password))   // a client certificate (mutual TLS)
                .tlsProtocols("TLSv1.3", "TLSv1.2")                       // default: the platform's
                .proxy(ProxySettings.http("proxy.corp", 3128, ProxyAuthenticator.basic("alice", "secret")))
                .listener(listener)
                .build();
        }
    }
}
