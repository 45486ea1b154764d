"""A real call through the real signaling server: two aiortc peers, a clinician and a patient.

Each side must see the other's camera and hear the other's microphone, which the test tells
apart by colour and pitch, so a frame that went the wrong way, or never left, would be noticed.
"""

from __future__ import annotations

import asyncio

import numpy as np

from visitt.testing import LiveServer

from .peers import CallPeer, WsClient, book, run, staff_login

BLUE, ORANGE = (20, 60, 220), (240, 140, 20)
LOW, HIGH = 440.0, 660.0
FRAME_TIMEOUT = 5.0


async def sees_and_hears(media: CallPeer, other: str, colour: tuple[int, int, int], hertz: float) -> None:
    video = await media.remote_track(other, "video", timeout=10)
    audio = await media.remote_track(other, "audio", timeout=10)

    frame = await asyncio.wait_for(video.recv(), FRAME_TIMEOUT)
    for _ in range(5):  # let the decoder settle past the first key frame
        frame = await asyncio.wait_for(video.recv(), FRAME_TIMEOUT)
    assert (frame.width, frame.height) == (320, 240)
    picture = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(picture - colour) < 25), (picture, colour)

    sound = []
    for _ in range(30):
        piece = await asyncio.wait_for(audio.recv(), FRAME_TIMEOUT)
        assert piece.sample_rate == 48000 and piece.samples > 0
        channels = len(piece.layout.channels)
        sound.append(piece.to_ndarray().reshape(-1)[::channels])  # interleaved: keep the first channel
    wave = np.concatenate(sound[10:]).astype(np.float64)  # after the codec's start-up
    assert np.abs(wave).max() > 1000, "silence"
    spectrum = np.abs(np.fft.rfft(wave))
    pitch = np.fft.rfftfreq(len(wave), 1 / 48000)[spectrum.argmax()]
    assert abs(pitch - hertz) < 15, (pitch, hertz)


async def call(server: LiveServer) -> None:
    _join_url, token = book(server)
    cookie = staff_login(server)
    async with await WsClient.staff(server, cookie) as host, await WsClient.guest(server, token) as patient:
        host_id = (await host.hello())["id"]
        patient_id = (await patient.hello())["id"]
        await patient.send({"type": "knock", "name": "Kari Nordmann"})
        await patient.expect("waiting")
        knock = await host.expect("knock")
        assert knock["participant"]["id"] == patient_id

        async with CallPeer(host, colour=BLUE, hertz=LOW) as host_media, \
                CallPeer(patient, colour=ORANGE, hertz=HIGH) as patient_media:
            await host.send({"type": "admit", "room": knock["room"], "participant": patient_id})
            assert (await host.expect("admitted"))["participants"] == []
            admitted = await patient.expect("admitted")
            assert [p["id"] for p in admitted["participants"]] == [host_id]
            await patient_media.join(admitted)

            await asyncio.gather(sees_and_hears(host_media, patient_id, ORANGE, HIGH),
                                 sees_and_hears(patient_media, host_id, BLUE, LOW))
            assert list(host_media.connections) == [patient_id]
            assert list(patient_media.connections) == [host_id]

            await patient.send({"type": "leave"})
            assert (await host.expect("left"))["participant"] == patient_id
            await patient.expect("bye")


def test_clinician_and_patient_see_and_hear_each_other(server: LiveServer) -> None:
    run(call(server))
