package dev.parley

import dev.parley.testing.KtorTestServer
import dev.parley.testing.NginxTls
import dev.parley.testing.TestPki
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.io.File
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlin.time.Duration.Companion.seconds

/**
 * Run in a JVM of its own by [JvmTrustStoreSpec]: connects to `args[0]` with default TLS settings, so that only the
 * JVM's trust store (`-Djavax.net.ssl.trustStore`) can make the certificate trusted, and prints the echo.
 */
object DefaultTrustStoreClient {
    @JvmStatic
    fun main(args: Array<String>) {
        val echoed = runBlocking {
            val connection = Parley.start(parleyOptions { url = args[0] })
            try {
                withTimeout(15.seconds) {
                    connection.awaitConnectedState()
                    connection.send(Frame.Text("trusted by the JVM"))
                    connection.incoming.first()
                }
            } finally {
                connection.stop()
            }
        }
        println("echo: ${(echoed as Frame.Text).text}")
        exitProcess(0)
    }

    private suspend fun ParleyConnection.awaitConnectedState() {
        state.first { it is ConnectionState.Connected }
    }
}

/*
 * The JVM's own trust store, as an operator configures it (-Djavax.net.ssl.trustStore): Parley's default TLS settings
 * use the JVM's default SSLContext, which reads those properties once per JVM, so this runs in a JVM of its own.
 */
class JvmTrustStoreSpec :
    FunSpec({
        test("with default TLS settings, a CA in -Djavax.net.ssl.trustStore is trusted") {
            KtorTestServer().start().use { backend ->
                NginxTls(backend.port).use { nginx ->
                    val java = File(System.getProperty("java.home"), "bin/java").path
                    val process =
                        ProcessBuilder(
                            java,
                            "-Djavax.net.ssl.trustStore=${TestPki.trustStoreFile}",
                            "-Djavax.net.ssl.trustStorePassword=${TestPki.PASSWORD}",
                            "-Djavax.net.ssl.trustStoreType=PKCS12",
                            "-cp",
                            System.getProperty("java.class.path"),
                            DefaultTrustStoreClient::class.java.name,
                            nginx.uri("/ws").toString(),
                        ).redirectErrorStream(true).start()
                    val finished = process.waitFor(60, TimeUnit.SECONDS)
                    val output = process.inputStream.bufferedReader().readText()
                    if (!finished) process.destroyForcibly()
                    (finished to output.lines().lastOrNull { it.startsWith("echo: ") }) shouldBe
                        (true to "echo: trusted by the JVM")
                    process.exitValue() shouldBe 0
                }
            }
        }
    })
