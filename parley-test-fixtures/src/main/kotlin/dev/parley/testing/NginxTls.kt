package dev.parley.testing

import java.io.File
import java.io.IOException
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/**
 * A real nginx on 127.0.0.1:[port] (and `[::1]:`[port] with [ipv6]) that terminates TLS in front of the plain
 * WebSocket server on `ws://127.0.0.1:<backendPort>`, passing the upgrade through. Started by the test itself and
 * killed, workers included, by [close].
 *
 * Why nginx and not [TlsTerminator]: nginx's TLS stack is OpenSSL, which shares nothing with the JDK's, and it is a
 * reverse proxy people really put in front of WebSocket servers; so a `wss://` test against it checks the client
 * against a TLS server and a proxy that nobody on the project wrote. nginx is a Debian package installed by
 * `.ci/install-peers`; the certificates come from [TestPki].
 *
 * The port is picked free with an ephemeral [ServerSocket] that is closed before nginx starts, so another process can
 * take it in between; nginx then fails to bind, and the start is retried on a new port a few times.
 *
 * @param backendPort the plain WebSocket server on 127.0.0.1 that nginx forwards to.
 * @param protocols the TLS versions nginx offers.
 * @param certificate the server certificate nginx presents.
 * @param requireClientCertificate when true, nginx demands a client certificate signed by the [TestPki] CA
 *   (`ssl_verify_client on`).
 * @param ipv6 when true, nginx also listens on `[::1]` on the same port; throws [IllegalStateException] when this
 *   machine has no IPv6 loopback ([ipv6LoopbackAvailable]).
 * @param startTimeout how long nginx may take to accept connections, per attempt.
 */
class NginxTls(
    private val backendPort: Int,
    val protocols: Protocols = Protocols.TLS_1_2_AND_1_3,
    val certificate: ServerCertificate = ServerCertificate.GOOD,
    val requireClientCertificate: Boolean = false,
    val ipv6: Boolean = false,
    private val startTimeout: Duration = 15.seconds,
) : AutoCloseable {
    /** Which TLS versions nginx offers (its `ssl_protocols`). */
    enum class Protocols(internal val directive: String) {
        /** TLS 1.2 only. */
        TLS_1_2("TLSv1.2"),

        /** TLS 1.3 only. */
        TLS_1_3("TLSv1.3"),

        /** TLS 1.2 and 1.3 (nginx 1.22's own default stops at 1.2). */
        TLS_1_2_AND_1_3("TLSv1.2 TLSv1.3"),
    }

    /** Which [TestPki] server certificate nginx presents. */
    enum class ServerCertificate {
        /** [TestPki.server]: trusted CA, names `localhost`, `127.0.0.1`, `::1`. */
        GOOD,

        /** [TestPki.untrustedServer]: the right names, signed by a CA that [TestPki.trustManager] does not trust. */
        UNTRUSTED_CA,

        /** [TestPki.wrongHostServer]: trusted CA, but for `wrong.example` only. */
        WRONG_HOST,
        ;

        internal val pem: TestPki.PemPair
            get() = when (this) {
                GOOD -> TestPki.server
                UNTRUSTED_CA -> TestPki.untrustedServer
                WRONG_HOST -> TestPki.wrongHostServer
            }
    }

    private val binary = findBinary("nginx", "/usr/sbin/nginx")
    private val directory: Path = Files.createTempDirectory("parley-nginx-")
    private val errorLogFile = directory.resolve("error.log")
    private val outputFile = directory.resolve("nginx.out")
    private val pidFile = directory.resolve("nginx.pid")
    private val process: Process

    // Kills nginx if a test never calls close(): an orphaned nginx would keep its port and outlive the build.
    private val shutdownHook = Thread { stopProcess() }

    /** The TLS port nginx listens on (on 127.0.0.1, and on ::1 with [ipv6]). */
    val port: Int

    init {
        check(!ipv6 || ipv6LoopbackAvailable) {
            "NginxTls(ipv6 = true): this machine has no IPv6 loopback (binding [::1] failed), so wss://[::1] cannot " +
                "be tested here"
        }
        var started: Pair<Process, Int>? = null
        try {
            for (attempt in 1..START_ATTEMPTS) {
                val candidate = freePort()
                val nginx = launch(candidate)
                when (awaitReady(nginx, candidate)) {
                    Start.READY -> {
                        started = nginx to candidate
                        break
                    }

                    Start.PORT_TAKEN -> kill(nginx)

                    Start.FAILED -> {
                        val exit = nginx.exitCodeOrNull()
                        kill(nginx)
                        val what = if (exit != null) {
                            "exited with code $exit before accepting connections"
                        } else {
                            "did not accept connections within $startTimeout (killed)"
                        }
                        throw IllegalStateException("nginx on 127.0.0.1:$candidate $what; ${diagnostics()}")
                    }
                }
            }
            checkNotNull(started) { "nginx found its port taken $START_ATTEMPTS times in a row; ${diagnostics()}" }
        } catch (e: Throwable) {
            directory.toFile().deleteRecursively()
            throw e
        }
        process = started.first
        port = started.second
        Runtime.getRuntime().addShutdownHook(shutdownHook)
    }

    /** `wss://` URI of [path] on this nginx; [host] may be an IPv6 literal such as `::1` (bracketed here). */
    fun uri(path: String, host: String = LOOPBACK): URI {
        require(path.startsWith("/")) { "path must start with '/': $path" }
        val authority = if (':' in host && !host.startsWith("[")) "[$host]" else host
        return URI.create("wss://$authority:$port$path")
    }

    /** What nginx wrote to its error log so far (startup warnings, TLS handshake failures at `info` level). */
    fun errorLog(): String = runCatching { Files.readString(errorLogFile) }.getOrDefault("")

    /** Stops nginx and its worker, then deletes its directory. */
    override fun close() {
        stopProcess()
        runCatching { Runtime.getRuntime().removeShutdownHook(shutdownHook) }
        directory.toFile().deleteRecursively()
    }

    private fun stopProcess() = kill(process)

    private fun launch(port: Int): Process {
        Files.writeString(directory.resolve("nginx.conf"), config(port))
        Files.deleteIfExists(pidFile)
        Files.deleteIfExists(errorLogFile)
        // The process-wide settings go on the command line and the error log is given with -e, so that even a
        // failure to read nginx.conf is logged inside our directory and not to /var/log/nginx.
        val globals = "daemon off; master_process on; worker_processes 1; pid $pidFile;"
        return ProcessBuilder(
            binary, "-p", "$directory/", "-e", errorLogFile.toString(), "-c", "nginx.conf", "-g", globals,
        )
            .directory(directory.toFile())
            .redirectErrorStream(true)
            .redirectOutput(outputFile.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(File("/dev/null")))
            .start()
    }

    private enum class Start { READY, PORT_TAKEN, FAILED }

    /**
     * Polls until nginx is ready, gave up, or [startTimeout] passed. Ready means: nginx wrote its pid file (it does so
     * only after binding every listen address) and the port accepts a TCP connection. The pid file is what tells our
     * nginx apart from another process that took the port between [freePort] and the start.
     */
    private fun awaitReady(nginx: Process, port: Int): Start {
        val deadline = TimeSource.Monotonic.markNow() + startTimeout
        while (!deadline.hasPassedNow()) {
            // nginx retries a failed bind for about 2.5 s before it exits; the log says so at once, so move on.
            if (errorLog().contains("Address already in use")) return Start.PORT_TAKEN
            if (!nginx.isAlive) return Start.FAILED
            if (pidFileNames(nginx) && accepts(LOOPBACK, port) && (!ipv6 || accepts(IPV6_LOOPBACK, port))) {
                return Start.READY
            }
            Thread.sleep(POLL_MILLIS)
        }
        return Start.FAILED
    }

    private fun pidFileNames(nginx: Process): Boolean =
        runCatching { Files.readString(pidFile).trim() == nginx.pid().toString() }.getOrDefault(false)

    private fun accepts(host: String, port: Int): Boolean = try {
        Socket().use { it.connect(InetSocketAddress(InetAddress.getByName(host), port), CONNECT_TIMEOUT_MILLIS) }
        true
    } catch (_: IOException) {
        false
    }

    private fun kill(nginx: Process) {
        // The worker is a child of the master; list it before the master goes, since it can no longer be found after.
        val children = nginx.descendants().toList()
        // SIGTERM is nginx's fast shutdown: the master stops its worker and exits.
        nginx.destroy()
        if (!nginx.waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            nginx.destroyForcibly()
            nginx.waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)
        }
        children.filter { it.isAlive }.forEach { it.destroyForcibly() }
    }

    private fun Process.exitCodeOrNull(): Int? = if (isAlive) null else exitValue()

    private fun diagnostics(): String {
        val output = runCatching { Files.readString(outputFile).trim() }.getOrDefault("")
        return "nginx error log: ${errorLog().trim().ifEmpty { "(empty)" }}" +
            if (output.isEmpty()) "" else "; nginx output: $output"
    }

    private fun config(port: Int): String {
        val pem = certificate.pem
        val ipv6Listen = if (ipv6) "listen [$IPV6_LOOPBACK]:$port ssl;" else ""
        val clientAuth = if (requireClientCertificate) {
            "ssl_verify_client on; ssl_client_certificate ${TestPki.caCertificateFile};"
        } else {
            ""
        }
        return """
            events { worker_connections 256; }
            http {
              access_log ${directory.resolve("access.log")};
              client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp;
              scgi_temp_path tmp;
              map ${'$'}http_upgrade ${'$'}connection_upgrade { default upgrade; '' close; }
              server {
                listen $LOOPBACK:$port ssl;
                $ipv6Listen
                ssl_certificate ${pem.certificate};
                ssl_certificate_key ${pem.privateKey};
                ssl_protocols ${protocols.directive};
                $clientAuth
                location / {
                  proxy_pass http://$LOOPBACK:$backendPort;
                  proxy_http_version 1.1;
                  proxy_set_header Upgrade ${'$'}http_upgrade;
                  proxy_set_header Connection ${'$'}connection_upgrade;
                  proxy_set_header Host ${'$'}host;
                  # A WebSocket may be quiet for long; nginx's default 60 s would cut it.
                  proxy_read_timeout 1h;
                  proxy_send_timeout 1h;
                }
              }
            }
        """.trimIndent() + "\n"
    }

    /** The IPv6 probe, and the tunables of starting and stopping nginx. */
    companion object {
        private const val IPV6_LOOPBACK = "::1"
        private const val START_ATTEMPTS = 5
        private const val POLL_MILLIS = 10L
        private const val CONNECT_TIMEOUT_MILLIS = 500
        private const val STOP_TIMEOUT_SECONDS = 5L

        /** Whether this machine has an IPv6 loopback (binding `[::1]` works); the `ipv6` option needs it. */
        val ipv6LoopbackAvailable: Boolean by lazy {
            runCatching { ServerSocket(0, 1, InetAddress.getByName(IPV6_LOOPBACK)).close() }.isSuccess
        }

        private fun freePort(): Int = ServerSocket(0, 1, InetAddress.getByName(LOOPBACK)).use { it.localPort }
    }
}
