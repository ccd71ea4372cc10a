package dev.kiln.monitor;

import dev.kiln.monitor.MonitorReport.Histogram;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The report's charts, drawn with XChart and returned as {@code data:image/png;base64,...} URIs for {@code <img>}. */
final class ReportCharts {

  static {
    // Charts are drawn off-screen; without this a server with no display (or a stray DISPLAY) can fail in AWT.
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  static final Color BASELINE = new Color(0x9A, 0xA5, 0xB1);
  static final Color CURRENT = new Color(0x1F, 0x6F, 0xEB);
  private static final Color INK = new Color(0x33, 0x3B, 0x45);
  private static final Color GRID = new Color(0xE3, 0xE7, 0xEC);
  /** Drawn at twice the CSS size so the charts stay sharp on high-density screens and when zoomed. */
  private static final int SCALE = 2;
  /** Charts narrower than this are "small" (the per-feature grid): fewer bars and shorter labels fit. */
  private static final int SMALL = 600;

  private ReportCharts() {}

  /** Baseline vs current shares per bin as grouped bars; null when neither side has any bin. */
  static String histogram(Histogram baseline, Histogram current, int width, int height) {
    boolean small = width < SMALL;
    // Beyond this many bins the bars and labels run together: the smallest bins are lumped into one bar.
    Map<String, double[]> bins = union(baseline, current, small ? 12 : 20);
    if (bins.isEmpty()) {
      return null;
    }
    CategoryChart chart = new CategoryChartBuilder().width(width).height(height).build();
    style(chart.getStyler());
    chart.getStyler().setAvailableSpaceFill(0.8).setOverlapped(false)
        .setSeriesColors(new Color[] {BASELINE, CURRENT});
    chart.getStyler().setYAxisDecimalPattern("0%").setYAxisMin(0.0);
    List<String> labels = new ArrayList<>();
    List<Double> base = new ArrayList<>();
    List<Double> cur = new ArrayList<>();
    bins.forEach((label, shares) -> {
      String shown = shorten(label, small ? 12 : 16);
      labels.add(labels.contains(shown) ? label : shown);  // two labels cut to the same text: keep the whole one
      base.add(shares[0]);
      cur.add(shares[1]);
    });
    // Rotate the bin labels only when they would run into each other at this width.
    int labelChars = labels.stream().mapToInt(String::length).sum() + 2 * labels.size();
    if (labelChars * 7.0 > width * 0.85) {
      chart.getStyler().setXAxisLabelRotation(40);
    }
    chart.addSeries("baseline", labels, base);
    chart.addSeries("current", labels, cur);
    return png(chart);
  }

  /** One value per day as a line with markers (days without a value are left out); null when no day has one. */
  static String lineByDay(String series, List<String> days, List<Double> values, int width, int height) {
    List<String> x = new ArrayList<>();
    List<Double> y = new ArrayList<>();
    for (int i = 0; i < days.size(); i++) {
      Double v = values.get(i);
      if (v != null && Double.isFinite(v)) {
        x.add(days.get(i));
        y.add(v);
      }
    }
    if (x.isEmpty()) {
      return null;
    }
    CategoryChart chart = new CategoryChartBuilder().width(width).height(height).build();
    style(chart.getStyler());
    chart.getStyler().setDefaultSeriesRenderStyle(CategorySeriesRenderStyle.Line)
        .setSeriesColors(new Color[] {CURRENT}).setMarkerSize(8);
    chart.getStyler().setSeriesLines(new BasicStroke[] {new BasicStroke(2.5f)})
        .setSeriesMarkers(new org.knowm.xchart.style.markers.Marker[] {SeriesMarkers.CIRCLE});
    chart.getStyler().setYAxisDecimalPattern("0.00");
    // A flat or single-point line gets an axis a little wider than the data, so it is not drawn on the frame.
    double lo = y.stream().min(Comparator.naturalOrder()).orElseThrow();
    double hi = y.stream().max(Comparator.naturalOrder()).orElseThrow();
    double pad = Math.max(0.02, (hi - lo) * 0.15);
    chart.getStyler().setYAxisMin(Math.max(0.0, lo - pad)).setYAxisMax(Math.min(1.0, hi + pad));
    chart.addSeries(series, x, y);
    return png(chart);
  }

  private static void style(AxesChartStyler s) {
    s.setChartBackgroundColor(Color.WHITE).setPlotBackgroundColor(Color.WHITE).setPlotBorderVisible(false)
        .setChartTitleVisible(false).setChartFontColor(INK).setChartPadding(6).setAntiAlias(true);
    // The page shows the baseline/current legend once in HTML (crisper, and no space lost in every chart).
    s.setLegendVisible(false);
    s.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12)).setAxisTickLabelsColor(INK)
        .setAxisTickMarksColor(GRID).setAxisTitlesVisible(false);
    s.setPlotGridVerticalLinesVisible(false).setPlotGridLinesColor(GRID)
        .setPlotGridLinesStroke(new BasicStroke(1f));
  }

  /**
   * Baseline and current bins on one axis: the baseline's order, then bins only the current data has (an unseen
   * category shows as a current bar beside a zero baseline). Too many bins keep the largest and lump the rest.
   */
  private static Map<String, double[]> union(Histogram baseline, Histogram current, int maxBars) {
    Map<String, double[]> bins = new LinkedHashMap<>();
    add(bins, baseline, 0);
    add(bins, current, 1);
    if (bins.size() <= maxBars) {
      return bins;
    }
    List<Map.Entry<String, double[]>> bySize = new ArrayList<>(bins.entrySet());
    bySize.sort(Comparator.comparingDouble((Map.Entry<String, double[]> e) -> Math.max(e.getValue()[0],
        e.getValue()[1])).reversed());
    Map<String, double[]> kept = new LinkedHashMap<>();
    double[] other = new double[2];
    for (int i = 0; i < bySize.size(); i++) {
      double[] v = bySize.get(i).getValue();
      if (i < maxBars - 1) {
        kept.put(bySize.get(i).getKey(), v);
      } else {
        other[0] += v[0];
        other[1] += v[1];
      }
    }
    Map<String, double[]> ordered = new LinkedHashMap<>();
    bins.forEach((k, v) -> {
      if (kept.containsKey(k)) {
        ordered.put(k, v);
      }
    });
    ordered.put("(" + (bySize.size() - maxBars + 1) + " others)", other);
    return ordered;
  }

  private static void add(Map<String, double[]> bins, Histogram h, int side) {
    if (h == null || h.labels() == null || h.shares() == null) {
      return;
    }
    for (int i = 0; i < Math.min(h.labels().size(), h.shares().size()); i++) {
      Double share = h.shares().get(i);
      String label = String.valueOf(h.labels().get(i));
      bins.computeIfAbsent(label, k -> new double[2])[side] +=
          share == null || !Double.isFinite(share) ? 0.0 : share;
    }
  }

  /** Cut in the middle: category values often share a prefix and differ at the end ({@code plan_basic_v2}). */
  private static String shorten(String label, int max) {
    if (label.length() <= max) {
      return label;
    }
    int head = (max - 1) / 2;
    return label.substring(0, head) + "…" + label.substring(label.length() - (max - 1 - head));
  }

  private static String png(Chart<?, ?> chart) {
    int w = chart.getWidth();
    int h = chart.getHeight();
    BufferedImage image = new BufferedImage(w * SCALE, h * SCALE, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
      g.scale(SCALE, SCALE);
      chart.paint(g, w, h);
    } finally {
      g.dispose();
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", bytes);
    } catch (IOException e) {
      throw new UncheckedIOException("could not encode a report chart as PNG", e);
    }
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(bytes.toByteArray());
  }
}
