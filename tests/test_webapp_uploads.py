"""Upload ordering, typed dates and the app's size limit: pure functions over names and headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import rasterio
from geo_data import write_geotiffs
from PIL import Image

from clear_vision.geo.uploads import upload_frames
from clear_vision.webapp.uploads import (
    APP_MAX_FILE_MB,
    APP_MAX_FRAMES,
    APP_MAX_PIXELS,
    check_size,
    dates_for,
    example_sequences,
    frame_order_list,
    order_frames,
    sort_uploads,
)


def uploads(*names: str) -> list[str]:
    """Gradio hands each upload over in a folder of its own, under its original name."""
    return [f"/tmp/gradio/{index:02x}/{name}" for index, name in enumerate(names)]


def test_uploads_are_sorted_naturally_with_their_order_list() -> None:
    files = uploads("frame_10.png", "frame_2.png", "frame_1.png")
    ordered, order, left_out = sort_uploads(files)
    assert [Path(f).name for f in ordered] == ["frame_1.png", "frame_2.png", "frame_10.png"] and left_out == []
    assert order == "frame_1.png\nframe_2.png\nframe_10.png" == frame_order_list(files)
    assert sort_uploads(None) == (None, "", []) and frame_order_list([]) == ""
    dated = uploads("S2B_MSIL2A_20190616T093039.png", "S2A_MSIL2A_20190621T093041.png", "S2A_MSIL2A_20190611T093041.png")
    assert frame_order_list(dated).splitlines() == ["S2A_MSIL2A_20190611T093041.png", "S2B_MSIL2A_20190616T093039.png", "S2A_MSIL2A_20190621T093041.png"]
    assert [path.name for path in order_frames(dated, "")] == frame_order_list(dated).splitlines()  # the dates read from them run forward


def test_order_list_chooses_and_orders() -> None:
    files = uploads("b.png", "a.png", "c.png")
    assert [p.name for p in order_frames(files, "")] == ["a.png", "b.png", "c.png"]
    assert [p.name for p in order_frames(files, " c.png \n\na.png\n")] == ["c.png", "a.png"]
    spaced = uploads(" lead_2019-06-16.png", "b_2019-06-21.png")  # a name that starts with a space, listed as the order box shows it
    assert [p.name for p in order_frames(spaced, frame_order_list(spaced))] == [" lead_2019-06-16.png", "b_2019-06-21.png"]


@pytest.mark.parametrize(
    ("files", "order", "message"),
    [
        ([], "", "no frames uploaded: add 2 to 10 images"),
        (uploads("a.png", "a.png"), "", "two uploaded files are named 'a.png'"),
        (uploads("a.png", "b.png"), "a.png\nz.png", "frame order: 'z.png' is not one of the uploaded files"),
        (uploads("a.png", "b.png"), "a.png\na.png", "frame order: 'a.png' is listed twice"),
        (uploads("a.png", "b.png"), "a.png", r"got 1 frame\(s\); this app takes 2 to 10 frames of one place \(the model was trained on 5 to 10\)"),
        (uploads(*(f"{i}.png" for i in range(APP_MAX_FRAMES + 1))), "", r"^11 frames given; this app takes at most 10 \(the model was trained on 5 to 10\): delete 1 line\(s\) from the frame order list to leave those frames out, or give fewer files$"),
    ],
)
def test_bad_orders_are_named(files: list[str], order: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        order_frames(files, order)


def test_typed_dates_win_then_file_names_then_none() -> None:
    frames = upload_frames(uploads("a_2021-05-10.png", "b_2021-05-15.png"))
    assert dates_for("2021-06-01 2021-06-06", frames) == (["2021-06-01", "2021-06-06"], "dates as typed")
    assert dates_for("2021-06-01,2021-06-06", frames)[0] == ["2021-06-01", "2021-06-06"]
    assert dates_for("  ", frames) == (["2021-05-10", "2021-05-15"], "dates read from file names")
    assert dates_for("", upload_frames(uploads("a.png", "b.png"))) == (None, "no dates: frames taken as 5 days apart")
    partly = dates_for("", upload_frames(uploads("f_2019-06-16.png", "f_2019-06-21.png", "mystery.png")))
    assert partly == (None, "no dates (none in the name of mystery.png; type them in the Dates box): frames taken as 5 days apart")


def test_dated_frames_moved_out_of_time_order_say_where_the_dates_came_from() -> None:
    """Moving a line up once gave "date 2 comes before date 1" with no word that the dates were read from the names."""
    frames = order_frames(uploads("frame_01_2019-06-16.png", "frame_03_2019-06-26.png"), "frame_03_2019-06-26.png\nframe_01_2019-06-16.png")
    with pytest.raises(ValueError) as error:
        dates_for("", frames)
    assert str(error.value) == (
        "frame order: the dates read from file names are not in time order: frame_03_2019-06-26.png (2019-06-26) is listed before "
        "frame_01_2019-06-16.png (2019-06-16); the model takes frames in time order. Keep the dated frames in time order "
        "(empty the order list to restore it), or type one date per frame, in the listed order, in the Dates box"
    )
    assert dates_for("2021-06-01 2021-06-06", frames)[0] == ["2021-06-01", "2021-06-06"]  # typed dates put them in order


def test_geotiff_dates_say_whether_tags_or_file_names_gave_them(tmp_path: Path) -> None:
    """The note once said "date tags, else file names" for every GeoTIFF upload: not which gave the dates."""
    named = write_geotiffs(tmp_path / "named", hole=False)[:3]
    tagged = []
    for number, path in enumerate(named, start=1):
        copy = tmp_path / "tagged" / f"scene_{number}.tif"  # no date in the name: the tag gives it
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
        with rasterio.open(copy, "r+") as handle:
            handle.update_tags(ACQUISITION_DATE=f"2020-01-0{number}")
        tagged.append(copy)
    retagged = tmp_path / "tagged" / named[2].name  # its name says 2019-06-26; its tag, which wins, 2020-02-01
    retagged.write_bytes(named[2].read_bytes())
    with rasterio.open(retagged, "r+") as handle:
        handle.update_tags(ACQUISITION_DATE="2020-02-01")

    def dates(paths: list[Path]) -> tuple[list[str] | None, str]:
        return dates_for("", order_frames([str(path) for path in paths], ""))

    assert dates(named) == (["2019-06-16", "2019-06-21", "2019-06-26"], "dates read from file names")
    assert dates(tagged) == (["2020-01-01", "2020-01-02", "2020-01-03"], "dates read from the files' date tags")
    assert dates([*named[:2], retagged]) == (["2019-06-16", "2019-06-21", "2020-02-01"],
                                             "dates read from the date tags of S2_20190626.tif and from the other file names")
    assert dates_for("2021-05-10 2021-05-15 2021-05-20", order_frames([str(path) for path in tagged], ""))[1] == "dates as typed"


def blank_png(path: Path, width: int, height: int) -> Path:
    """A tiny file that decodes to many pixels, as an attacker or a careless user uploads."""
    Image.new("L", (width, height)).save(path)
    return path


def test_runs_over_the_pixel_budget_are_refused_from_headers(tmp_path: Path) -> None:
    fits = [blank_png(tmp_path / f"ok_{i}.png", 1024, 1024) for i in range(APP_MAX_FRAMES)]
    check_size(fits)
    huge = [blank_png(tmp_path / "huge.png", 4096, 4096)] * APP_MAX_FRAMES
    assert huge[0].stat().st_size < 100_000
    with pytest.raises(ValueError, match=r"10 frames of up to 4096x4096 px are 167,772,160 pixels; this app takes at most 10,485,760 pixels"):
        check_size(huge)
    assert APP_MAX_PIXELS == 10 * 1024 * 1024


def test_a_file_over_the_size_limit_is_left_out_of_an_upload_and_refused_by_a_run(tmp_path: Path) -> None:
    """Gradio's limit once refused a whole drop for one such file; the app's keeps the others and names it, its size and the limit."""
    fits = [str(blank_png(tmp_path / f"frame_{index}.png", 64, 64)) for index in (1, 2)]
    big = tmp_path / "frame_3.png"
    with open(big, "wb") as file:
        file.truncate(APP_MAX_FILE_MB * 2**20 + 1)
    note = "frame_3.png is 20.1 MB; this app takes files of at most 20 MB each (crop or compress it, or use the command line)"
    assert sort_uploads([str(big), *fits]) == (fits, "frame_1.png\nframe_2.png", [f"Not added: {note}"])
    with pytest.raises(ValueError, match=rf"^{re.escape(note)}$"):
        order_frames([*fits, str(big)], "")


def test_unreadable_upload_is_named_before_decoding(tmp_path: Path) -> None:
    fake = tmp_path / "frame_3.png"
    fake.write_text("not an image")
    with pytest.raises(ValueError, match=r"frame 2 \(frame_3.png\): not a readable PNG, JPEG or TIFF image"):
        check_size([blank_png(tmp_path / "a.png", 64, 64), fake])


def test_empty_upload_is_named_as_empty(tmp_path: Path) -> None:
    """A 0-byte file was "not a readable PNG, JPEG or TIFF image (UnidentifiedImageError)"."""
    (tmp_path / "empty_2019-07-01.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"^frame 2 \(empty_2019-07-01.png\): empty file \(0 bytes\)$"):
        check_size([blank_png(tmp_path / "a.png", 64, 64), tmp_path / "empty_2019-07-01.png"])


def test_example_sequences_are_labelled_folders(tmp_path: Path) -> None:
    folder = tmp_path / "romania_2020_spring"
    folder.mkdir()
    for name in ("frame_10.png", "frame_2.png", "notes.txt"):
        (folder / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    sequences = example_sequences(tmp_path)
    assert list(sequences) == ["Romania 2020 spring (2 frames)"]
    assert [Path(p).name for p in sequences["Romania 2020 spring (2 frames)"]] == ["frame_2.png", "frame_10.png"]
    assert example_sequences(tmp_path / "missing") == {}


def test_a_damaged_geotiff_among_geotiffs_is_named_as_damaged(tmp_path: Path) -> None:
    """Not as "a picture" mixed with GeoTIFFs: the library cannot open it, so cannot tell what it is."""
    paths = write_geotiffs(tmp_path / "geo")[:3]
    damaged = paths[2].with_name("S2_20990101.tif")
    damaged.write_bytes(paths[2].read_bytes()[: paths[2].stat().st_size // 3])
    files = [str(path) for path in (*paths[:2], damaged)]

    with pytest.raises(ValueError) as refused:
        order_frames(files, "")

    assert str(refused.value) == ("S2_20990101.tif: not a readable PNG, JPEG or TIFF image (damaged, cut short, or of another format); "
                                  "remove it (the x on its row in the frames box) or upload a good copy")
    assert frame_order_list(files).splitlines() == [*(path.name for path in paths[:2]), "S2_20990101.tif"]  # listed, to remove


def dropped(folder: Path, names: list[str], width: int = 8) -> list[str]:
    """Files as Gradio stores a drop: each in a folder of its own, under its own name."""
    paths = []
    for index, name in enumerate(names):
        (folder / str(index)).mkdir(parents=True)
        paths.append(str(blank_png(folder / str(index) / name, width, 8)))
    return paths


def test_a_drop_of_files_already_there_is_added_once_and_a_different_file_of_their_name_is_left_out(tmp_path: Path) -> None:
    """Gradio adds a drop to the files in the box: the same files dropped again once failed the run
    with "two uploaded files are named ...", and another file of a name there was refused only by the run."""
    there = dropped(tmp_path / "first", ["frame_1.png", "frame_2.png", "frame_3.png"])
    again = dropped(tmp_path / "again", ["frame_1.png", "frame_2.png"])
    other = dropped(tmp_path / "other", ["frame_3.png"], width=16)

    files, order, notes = sort_uploads([*there, *again, *other], before=there)

    assert files == there and order == "frame_1.png\nframe_2.png\nframe_3.png"
    assert notes == [
        "frame_1.png was already in the frames box: kept once",
        "frame_2.png was already in the frames box: kept once",
        "Not added: frame_3.png: a different file of that name is already in the frames box; rename one so the order is clear",
    ]


def test_too_many_frames_are_named_with_the_fix_and_whether_a_drop_added_to_frames_there(tmp_path: Path) -> None:
    names = [f"frame_{index}.png" for index in range(1, 13)]
    files = dropped(tmp_path, names)
    too_many = ("12 frames given; this app takes at most 10 (the model was trained on 5 to 10): "
                "delete 2 line(s) from the frame order list to leave those frames out, or give fewer files")

    assert sort_uploads(files)[2] == [too_many]  # one drop of 12: nothing was added to
    assert sort_uploads(files, before=files[:8])[2] == [
        f"this drop added 4 file(s) to the 8 already in the frames box: {too_many} (or clear the frames box with its x and upload again)"
    ]
    with pytest.raises(ValueError, match=rf"^{re.escape(too_many)}$"):
        order_frames(files, "")
    assert len(order_frames(files, "\n".join(names[:10]))) == 10  # deleting two lines is the fix


def test_frames_of_another_size_are_named(tmp_path: Path) -> None:
    """The library's message lists the sizes only ("got 64x64, 100x100"): which of ten frames is odd?"""
    paths = [blank_png(tmp_path / f"frame_{index}.png", 64, 48) for index in range(1, 5)]
    paths[2] = blank_png(tmp_path / "frame_3.png", 100, 100)
    with pytest.raises(ValueError, match=re.escape(
        "all frames must share one size: most are 48x64 px (rows x columns), but not frame_3.png (100x100); crop or resize those to match, "
        "or leave them out (delete their lines from the frame order list)"
    )):
        check_size(paths)
