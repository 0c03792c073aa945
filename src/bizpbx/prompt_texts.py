"""What bizpbx's own prompts say, in each language a site can speak.

A server without recorded prompts still speaks: at provision time the freeswitch role speaks
every missing prompt that has a text (these, or the site's `prompts`) into an 8 kHz WAV with
espeak-ng, in the site's language. The names are those the routing and the settings' defaults
use (bizpbx.sounds.site_sounds lists them).
"""

from __future__ import annotations

PROMPT_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "ivr/ivr-please_enter_extension_followed_by_pound.wav": "Введите номер организации и нажмите решётку.",
        "ivr/ivr-that_was_an_invalid_entry.wav": "Неверный номер.",
        "ivr/ivr-welcome.wav": "Здравствуйте! Для связи с отделом продаж нажмите один. Для поддержки нажмите ноль.",
        "ivr/ivr-please_hold.wav": "Пожалуйста, оставайтесь на линии.",
        "ivr/ivr-call_cannot_be_completed_as_dialed.wav": "Этот звонок не может быть выполнен.",
        "ivr/ivr-all_circuits_busy.wav": "Все линии заняты. Попробуйте позже.",
        "ivr/ivr-you_are_not_authorized_to_make_calls.wav": "Звонки недоступны на вашем тарифе.",
        "ivr/ivr-not_available.wav": "Абонент недоступен.",
        "bizpbx/recording-notice.wav": "Внимание! Разговор записывается.",
    },
    "en": {
        "ivr/ivr-please_enter_extension_followed_by_pound.wav": "Please enter the organization number, followed by pound.",
        "ivr/ivr-that_was_an_invalid_entry.wav": "That was an invalid entry.",
        "ivr/ivr-welcome.wav": "Welcome! For sales, press one. For support, press zero.",
        "ivr/ivr-please_hold.wav": "Please hold.",
        "ivr/ivr-call_cannot_be_completed_as_dialed.wav": "Your call cannot be completed as dialed.",
        "ivr/ivr-all_circuits_busy.wav": "All circuits are busy. Please try again later.",
        "ivr/ivr-you_are_not_authorized_to_make_calls.wav": "You are not authorized to make this call.",
        "ivr/ivr-not_available.wav": "The person you are calling is not available.",
        "bizpbx/recording-notice.wav": "This call is recorded.",
    },
}
