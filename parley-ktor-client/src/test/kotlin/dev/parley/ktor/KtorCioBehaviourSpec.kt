package dev.parley.ktor

import dev.parley.testing.suite.ClientBehaviourSuite
import dev.parley.testing.suite.KotlinApiPath
import io.ktor.client.HttpClient
import io.ktor.client.engine.cio.CIO

/**
 * The behaviour suite through a caller's Ktor HttpClient with the CIO engine, the one engine `httpClient(...)` takes
 * (the others are refused at once; HttpClientTransportSpec shows it). One client for the suite, as an application
 * would share one; it lives as long as the test JVM.
 */
class KtorCioBehaviourSpec :
    ClientBehaviourSuite(
        KotlinApiPath("Kotlin API, caller's Ktor HttpClient (CIO)", refusesMaskedFrames = false) { httpClient(cio) },
    )

private val cio = HttpClient(CIO)
