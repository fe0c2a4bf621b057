package app;

import org.example.nora.Greeting;

public final class App {
    public static String greet() {
        return Greeting.hello("nora");
    }
}
