package consumer;

import com.acme.Lib;

public final class Consumer {
    public static String libBuild() {
        return Lib.build();
    }
}
