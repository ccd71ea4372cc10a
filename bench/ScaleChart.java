import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * bench/scale.sh's chart: rows vs wall time and vs peak RSS of each process of the chain, from bench/run's JSON
 * results (one file per size). Usage: java -cp "target/kiln.jar:target/lib/*" bench/ScaleChart.java OUT.png RUN.json...
 * Draws two charts side by side into one PNG (XChart, the library the monitor report uses) and prints a markdown
 * table of the same figures.
 */
public class ScaleChart {
  /** bench/run's process names -> the series names on the chart. */
  private static final Map<String, String> PROCESSES = new LinkedHashMap<>();

  static {
    PROCESSES.put("kiln ingest (cold JVM)", "kiln ingest");
    PROCESSES.put("kiln features (cold JVM)", "kiln features");
    PROCESSES.put("kiln trainset (cold JVM)", "kiln trainset");
    PROCESSES.put("kiln train --model xgboost (cold JVM)", "kiln train");
    PROCESSES.put("pandas_chain.py", "pandas script");
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ScaleChart OUT.png RUN.json...");
      System.exit(2);
    }
    ObjectMapper json = new ObjectMapper();
    // series -> rows -> {wall s, peak RSS GiB}
    Map<String, TreeMap<Long, double[]>> series = new LinkedHashMap<>();
    PROCESSES.values().forEach(s -> series.put(s, new TreeMap<>()));
    series.put("kiln chain (4 commands)", new TreeMap<>());
    for (int i = 1; i < args.length; i++) {
      JsonNode run = json.readTree(new File(args[i]));
      long rows = run.get("rows").asLong();
      double chainWall = 0;
      double chainRss = 0;
      int chainParts = 0;
      for (JsonNode stage : run.get("stages")) {
        String name = PROCESSES.get(stage.get("stage").asText());
        if (name == null || stage.get("wall_s").isNull()) {
          continue;
        }
        double wall = stage.get("wall_s").asDouble();
        double rss = stage.get("peak_rss_gib").asDouble();
        series.get(name).put(rows, new double[] {wall, rss});
        if (name.startsWith("kiln ")) {
          chainWall += wall;
          chainRss = Math.max(chainRss, rss);
          chainParts++;
        }
      }
      if (chainParts == 4) {
        series.get("kiln chain (4 commands)").put(rows, new double[] {chainWall, chainRss});
      }
    }
    XYChart time = chart("Wall time vs rows (2 cores)", "seconds");
    XYChart memory = chart("Peak RSS vs rows", "GiB");
    for (Map.Entry<String, TreeMap<Long, double[]>> s : series.entrySet()) {
      if (s.getValue().isEmpty()) {
        continue;
      }
      List<Double> x = new ArrayList<>();
      List<Double> wall = new ArrayList<>();
      List<Double> rss = new ArrayList<>();
      s.getValue().forEach((rows, v) -> {
        x.add(rows / 1e6);
        wall.add(v[0]);
        rss.add(v[1]);
      });
      time.addSeries(s.getKey(), x, wall).setMarker(SeriesMarkers.CIRCLE);
      if (!s.getKey().startsWith("kiln chain")) {
        memory.addSeries(s.getKey(), x, rss).setMarker(SeriesMarkers.CIRCLE);
      }
    }
    int w = 640;
    int h = 420;
    BufferedImage image = new BufferedImage(2 * w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    time.paint(g, w, h);
    g.translate(w, 0);
    memory.paint(g, w, h);
    g.dispose();
    ImageIO.write(image, "png", new File(args[0]));

    System.out.println("| rows | " + String.join(" | ", series.keySet()) + " |");
    System.out.println("|---:|" + "---:|".repeat(series.size()));
    TreeMap<Long, List<String>> table = new TreeMap<>();
    for (TreeMap<Long, double[]> s : series.values()) {
      s.keySet().forEach(rows -> table.putIfAbsent(rows, new ArrayList<>()));
    }
    table.forEach((rows, cells) -> {
      for (TreeMap<Long, double[]> s : series.values()) {
        double[] v = s.get(rows);
        cells.add(v == null ? "-" : String.format("%.1f s, %.2f GiB", v[0], v[1]));
      }
      System.out.printf("| %,d | %s |%n", rows, String.join(" | ", cells));
    });
    System.out.println("chart: " + args[0]);
  }

  private static XYChart chart(String title, String yTitle) {
    XYChart chart = new XYChartBuilder().width(640).height(420).title(title).xAxisTitle("rows (millions)")
        .yAxisTitle(yTitle).build();
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
    chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    chart.getStyler().setPlotGridLinesVisible(true);
    return chart;
  }
}
